//! Response framing for the lean HTTP/1.1 client, apart from the I/O: parsing a response head
//! into what it says about the body (RFC 9112 §6.3), and an incremental chunked-body decoder
//! that counts data bytes without copying them. Pure functions of bytes, so they are tested
//! without sockets.

use std::mem::MaybeUninit;

use crate::results::ErrorClass;

/// Most header fields in a response head.
pub(super) const MAX_HEADERS: usize = 64;
/// Cap on one chunk-size line (with its extensions) and on the trailer section, so endless
/// input is an error rather than a hang.
const MAX_CHUNK_METADATA: usize = 64 * 1024;

/// What the response head says about the response.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub status: u16,
    /// A 1xx response: another head follows.
    pub interim: bool,
    pub framing: Framing,
    pub keep_alive: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Parses a response head at the start of `data`: `None` if it is not complete yet, otherwise
/// its length and what it says.
pub(super) fn parse_head(
    data: &[u8],
    head_request: bool,
) -> Result<Option<(usize, Head)>, ErrorClass> {
    // Uninitialised: httparse fills what it uses, which saves clearing 2 KiB per response.
    let mut fields = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let length = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        data,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ErrorClass::Other),
    };
    let (Some(status), Some(version)) = (response.code, response.version) else {
        return Err(ErrorClass::Other);
    };
    if !(100..1000).contains(&status) || status == 101 {
        // 101 only answers a request for an upgrade, which is never sent.
        return Err(ErrorClass::Other);
    }
    if status < 200 {
        let interim = Head {
            status,
            interim: true,
            framing: Framing::Empty,
            keep_alive: true,
        };
        return Ok(Some((length, interim)));
    }
    let mut content_length = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive = false;
    for field in response.headers.iter() {
        let name = field.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length = Some(parse_content_length(field.value, content_length)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            // Only the final coding matters, and a later field comes after an earlier one.
            let last = field.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = trim(last).eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= has_token(field.value, b"close");
            keep_alive |= has_token(field.value, b"keep-alive");
        }
    }
    // HTTP/1.1 persists unless told otherwise; HTTP/1.0 only when asked to.
    let mut keep_alive = !close && (version == 1 || keep_alive);
    let framing = if head_request || status == 204 || status == 304 {
        Framing::Empty
    } else if transfer_encoding {
        // Both framings, or chunked from an HTTP/1.0 server, smell of request smuggling: the
        // body is read as chunked, but the connection is not trusted afterwards.
        if content_length.is_some() || version == 0 {
            keep_alive = false;
        }
        if chunked {
            Framing::Chunked
        } else {
            keep_alive = false;
            Framing::UntilClose
        }
    } else if let Some(length) = content_length {
        Framing::Length(length)
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    let head = Head {
        status,
        interim: false,
        framing,
        keep_alive,
    };
    Ok(Some((length, head)))
}

/// Parses a Content-Length field value (a number, or a list of the same number), which must
/// agree with an earlier Content-Length field if any.
fn parse_content_length(value: &[u8], earlier: Option<u64>) -> Result<u64, ErrorClass> {
    let mut length = earlier;
    for item in value.split(|&b| b == b',') {
        let digits = trim(item);
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(ErrorClass::Other);
        }
        let n = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if length.is_some_and(|l| l != n) {
            return Err(ErrorClass::Other);
        }
        length = Some(n);
    }
    length.ok_or(ErrorClass::Other)
}

/// Whether a comma-separated header value has `token` (case-insensitive).
pub(super) fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| trim(item).eq_ignore_ascii_case(token))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Where a chunked decoder stands (RFC 9112 §7.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// The hex digits of a chunk size.
    #[default]
    Size,
    /// Chunk extensions (or whitespace) after the size, up to the end of the line.
    Extension,
    /// Chunk data, `remaining` bytes of it.
    Data,
    /// The CRLF after chunk data.
    DataCr,
    DataLf,
    /// The start of a trailer field line, or of the empty line that ends the body.
    TrailerStart,
    TrailerLine,
    /// The LF of the empty line that ends the body.
    EndLf,
    Done,
}

/// An incremental chunked-body decoder: counts data bytes without copying them, skips
/// extensions and trailers.
#[derive(Debug, Default)]
pub(super) struct ChunkedDecoder {
    state: ChunkState,
    /// The chunk size being read, then the data left in the chunk.
    remaining: u64,
    digits: usize,
    /// Bytes of the current size line, or of the trailers, against `MAX_CHUNK_METADATA`.
    metadata: usize,
}

/// What one call of [`ChunkedDecoder::feed`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fed {
    pub consumed: usize,
    pub body: u64,
    pub done: bool,
}

impl ChunkedDecoder {
    /// Consumes as much of `data` as belongs to the body; stops at its end.
    pub fn feed(&mut self, data: &[u8]) -> Result<Fed, ErrorClass> {
        let mut i = 0;
        let mut body = 0;
        while i < data.len() && self.state != ChunkState::Done {
            if self.state == ChunkState::Data {
                let take = self.remaining.min((data.len() - i) as u64);
                i += take as usize;
                body += take;
                self.remaining -= take;
                if self.remaining == 0 {
                    self.state = ChunkState::DataCr;
                }
                continue;
            }
            let byte = data[i];
            i += 1;
            self.metadata += 1;
            if self.metadata > MAX_CHUNK_METADATA {
                return Err(ErrorClass::Other);
            }
            self.state = match (self.state, byte) {
                (ChunkState::Size, b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                    let digit = (byte as char).to_digit(16).unwrap_or(0);
                    if self.remaining > u64::MAX >> 4 {
                        return Err(ErrorClass::Other);
                    }
                    self.remaining = (self.remaining << 4) | u64::from(digit);
                    self.digits += 1;
                    ChunkState::Size
                }
                (ChunkState::Size, b';' | b' ' | b'\t' | b'\r' | b'\n') if self.digits > 0 => {
                    if byte == b'\n' {
                        self.end_of_size_line()
                    } else {
                        ChunkState::Extension
                    }
                }
                // Quoted strings in extensions cannot hold a line break, so the line ends at
                // the first LF.
                (ChunkState::Extension, b'\n') => self.end_of_size_line(),
                (ChunkState::Extension, _) => ChunkState::Extension,
                (ChunkState::DataCr, b'\r') => ChunkState::DataLf,
                (ChunkState::DataCr | ChunkState::DataLf, b'\n') => self.next_size_line(),
                (ChunkState::TrailerStart, b'\r') => ChunkState::EndLf,
                (ChunkState::TrailerStart | ChunkState::EndLf, b'\n') => ChunkState::Done,
                (ChunkState::TrailerLine, b'\n') => ChunkState::TrailerStart,
                (ChunkState::TrailerStart | ChunkState::TrailerLine, _) => ChunkState::TrailerLine,
                _ => return Err(ErrorClass::Other),
            };
        }
        Ok(Fed {
            consumed: i,
            body,
            done: self.state == ChunkState::Done,
        })
    }

    fn end_of_size_line(&mut self) -> ChunkState {
        if self.remaining == 0 {
            // The last chunk; the trailers share one metadata allowance.
            self.metadata = 0;
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        }
    }

    fn next_size_line(&mut self) -> ChunkState {
        self.remaining = 0;
        self.digits = 0;
        self.metadata = 0;
        ChunkState::Size
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) const CHUNKED: &[u8] =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
        4;name=value\r\nWiki\r\n\
        5 ; quoted=\"a;b\\\"c\"\r\npedia\r\n\
        E\r\n in\r\n\r\nchunks.\r\n\
        0000;last\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n";

    #[test]
    fn chunked_decoder_split_at_every_byte() {
        let body = &CHUNKED[CHUNKED.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        for split in 0..=body.len() {
            let mut decoder = ChunkedDecoder::default();
            let first = decoder.feed(&body[..split]).unwrap();
            assert_eq!(first.consumed, split);
            let second = decoder.feed(&body[split..]).unwrap();
            assert_eq!(second.consumed, body.len() - split);
            assert!(second.done);
            assert_eq!(first.body + second.body, 23, "split at {split}");
        }
        // Bytes after the body are left alone.
        let mut decoder = ChunkedDecoder::default();
        let fed = decoder.feed(b"1\r\nx\r\n0\r\n\r\nHTTP/1.1").unwrap();
        assert_eq!((fed.consumed, fed.body, fed.done), (11, 1, true));
    }

    #[test]
    fn chunked_decoder_rejects_bad_framing() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"1\r\nxy\r\n",
            b"11111111111111111\r\n",
            b";ext\r\n",
        ] {
            let mut decoder = ChunkedDecoder::default();
            assert_eq!(decoder.feed(bad), Err(ErrorClass::Other), "{bad:?}");
        }
        let endless = vec![b'a'; MAX_CHUNK_METADATA + 10];
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(
            decoder.feed(b"1;"),
            Ok(Fed {
                consumed: 2,
                body: 0,
                done: false
            })
        );
        assert_eq!(decoder.feed(&endless), Err(ErrorClass::Other));
    }

    #[test]
    fn head_parsing() {
        let parse = |bytes: &[u8]| parse_head(bytes, false);
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Len"), Ok(None));
        let (length, head) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(length, 38);
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        // Transfer-Encoding wins over Content-Length, and the connection is not trusted after.
        let (_, head) =
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!((head.framing, head.keep_alive), (Framing::Chunked, false));
        // Chunked but not last: read until close.
        let (_, head) = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (head.framing, head.keep_alive),
            (Framing::UntilClose, false)
        );
        let (_, head) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!((head.framing, head.keep_alive), (Framing::Empty, true));
    }
}
