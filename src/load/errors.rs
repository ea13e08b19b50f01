//! Classifying client errors: a request without a response is counted by why it got none.

use std::error::Error as _;

use crate::results::ErrorClass;

pub fn classify(error: &reqwest::Error) -> ErrorClass {
    if error.is_timeout() {
        return ErrorClass::Timeout;
    }
    if error.is_connect() {
        return ErrorClass::Connect;
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return ErrorClass::Reset
                }
                TimedOut => return ErrorClass::Timeout,
                ConnectionRefused => return ErrorClass::Connect,
                _ => {}
            }
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled() {
                return ErrorClass::Reset;
            }
            if hyper.is_timeout() {
                return ErrorClass::Timeout;
            }
        }
        source = cause.source();
    }
    ErrorClass::Other
}
