//! Where each field of a manifest is written: a second, event-level parse of the YAML text that
//! maps field paths such as `variants[2].command` to their line and column, so problems found
//! after deserializing still point at the right place.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span, SpannedEventReceiver};

/// A 1-based line and column in the manifest text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Default)]
pub struct LocationIndex {
    positions: HashMap<String, Location>,
    /// Where a key is written a second time in the same mapping.
    repeats: HashMap<String, Location>,
}

enum Frame {
    Map {
        path: String,
        /// The key whose value comes next; `None` while a key is expected.
        key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    index: LocationIndex,
    stack: Vec<Frame>,
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    fn record(&mut self, path: &str, span: Span) {
        self.index
            .positions
            .entry(path.to_owned())
            .or_insert(Location {
                line: span.start.line(),
                column: span.start.col() + 1,
            });
    }

    fn record_key(&mut self, path: &str, span: Span) {
        let location = Location {
            line: span.start.line(),
            column: span.start.col() + 1,
        };
        if self.index.positions.contains_key(path) {
            self.index
                .repeats
                .entry(path.to_owned())
                .or_insert(location);
        } else {
            self.index.positions.insert(path.to_owned(), location);
        }
    }

    /// The path of the node starting now, or `None` when the node is a mapping key.
    fn node_path(&mut self, event: &Event, span: Span) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let item = format!("{path}[{next}]");
                *next += 1;
                self.record(&item, span);
                Some(item)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join_key(path, &k)),
                None => {
                    // A key: remember it and where it is written.
                    let name = match event {
                        Event::Scalar(text, ..) => text.to_string(),
                        _ => "?".to_owned(),
                    };
                    let full = join_key(path, &name);
                    *key = Some(name);
                    self.record_key(&full, span);
                    None
                }
            },
        }
    }
}

impl<'input> SpannedEventReceiver<'input> for Builder {
    fn on_event(&mut self, event: Event<'input>, span: Span) {
        match event {
            Event::Scalar(..) | Event::Alias(..) => {
                let _ = self.node_path(&event, span);
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                // A container used as a mapping key has no useful path; give it a dummy one.
                let path = self
                    .node_path(&event, span)
                    .unwrap_or_else(|| "?".to_owned());
                self.record(&path, span);
                let frame = if matches!(event, Event::MappingStart(..)) {
                    Frame::Map { path, key: None }
                } else {
                    Frame::Seq { path, next: 0 }
                };
                self.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl LocationIndex {
    /// Indexes `text`; YAML that does not parse gives an empty index (the YAML error is
    /// reported by the deserializer with its own location).
    pub fn build(text: &str) -> LocationIndex {
        let mut builder = Builder::default();
        let _ = Parser::new_from_str(text).load(&mut builder, false);
        builder.index
    }

    /// Where the key at `path` is written a second time, if it is.
    pub fn repeated(&self, path: &str) -> Option<Location> {
        self.repeats.get(path).copied()
    }

    /// The location of `path`, or of its nearest written ancestor.
    pub fn find(&self, path: &str) -> Option<Location> {
        let mut current = path;
        loop {
            if let Some(location) = self.positions.get(current) {
                return Some(*location);
            }
            let cut = current.rfind(['.', '['])?;
            current = &current[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name: x
variants:
  - name: a
    command: [a, b]
  - { name: b, command: [c] }
phases:
  - name: p
    vus: 10
";

    fn at(line: usize, column: usize) -> Option<Location> {
        Some(Location { line, column })
    }

    #[test]
    fn finds_keys_items_and_ancestors() {
        let index = LocationIndex::build(TEXT);
        assert_eq!(index.find("name"), at(1, 1));
        assert_eq!(index.find("variants"), at(2, 1));
        assert_eq!(index.find("variants[0]"), at(3, 5));
        assert_eq!(index.find("variants[0].command"), at(4, 5));
        assert_eq!(index.find("variants[0].command[1]"), at(4, 18));
        assert_eq!(index.find("variants[1].command"), at(5, 16));
        assert_eq!(index.find("phases[0].vus"), at(8, 5));
        // Not written: the nearest ancestor that is.
        assert_eq!(index.find("phases[0].duration"), at(7, 5));
        assert_eq!(index.find("nothing.here"), None);
    }

    #[test]
    fn remembers_where_a_key_is_repeated() {
        let index = LocationIndex::build("a: 1\nb: 2\na: 3\n");
        assert_eq!(index.find("a"), at(1, 1));
        assert_eq!(index.repeated("a"), at(3, 1));
        assert_eq!(index.repeated("b"), None);
    }

    #[test]
    fn broken_yaml_keeps_what_came_before_the_error() {
        let index = LocationIndex::build("name: x\nphases: [unclosed\n");
        assert_eq!(index.find("name"), at(1, 1));
    }
}
