//! `--set PATH=VALUE`: overrides of scenario fields by dotted path, applied to the parsed JSON
//! before it is checked, as ns-3 and OMNeT++ command lines override model parameters.
//!
//! - Segments are separated by `.`; a segment that is a number indexes an array
//!   (`nodes.0.availability.p`), any other segment on an array picks the element whose `name`
//!   is that segment (`nodes.A.availability.p`).
//! - Missing object fields are created, so a defaulted field can be set (`sync.backoff.interval`).
//! - VALUE is read as JSON if it parses (`4`, `0.5`, `true`, `{"kind": "fixed", "delay": 2}`),
//!   otherwise as a string (`name=my_run`).

use super::InputError;
use serde_json::Value;

/// One parsed `--set` argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The argument as given.
    pub arg: String,
    /// The path segments.
    pub path: Vec<String>,
    /// The value.
    pub value: Value,
}

impl Override {
    /// Parses `PATH=VALUE`.
    pub fn parse(arg: &str) -> Result<Self, InputError> {
        let bad = |msg: &str| InputError::Set {
            arg: arg.to_string(),
            msg: msg.to_string(),
        };
        let (path, value) = arg
            .split_once('=')
            .ok_or_else(|| bad("expected PATH=VALUE, e.g. sync.backoff.interval=4"))?;
        let path: Vec<String> = path.trim().split('.').map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            return Err(bad(
                "the path has an empty segment (expected e.g. nodes.A.availability.p)",
            ));
        }
        let value =
            serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        Ok(Self {
            arg: arg.to_string(),
            path,
            value,
        })
    }

    /// Applies the override to `doc` and returns the path it set in the form errors report
    /// (`nodes[0].availability.p`), so that an error can name the override that caused it.
    pub fn apply(&self, doc: &mut Value) -> Result<String, InputError> {
        let mut here = doc;
        let mut resolved = String::new();
        for (i, seg) in self.path.iter().enumerate() {
            let last = i + 1 == self.path.len();
            let walked = self.path[..i].join(".");
            let at = if walked.is_empty() {
                "the top level".to_string()
            } else {
                format!("`{walked}`")
            };
            here = match here {
                Value::Object(map) => {
                    if !resolved.is_empty() {
                        resolved.push('.');
                    }
                    resolved.push_str(seg);
                    if last {
                        map.insert(seg.clone(), self.value.clone());
                        return Ok(resolved);
                    }
                    map.entry(seg.clone())
                        .or_insert_with(|| Value::Object(Default::default()))
                }
                Value::Array(items) => {
                    let index = match seg.parse::<usize>() {
                        Ok(n) if n < items.len() => n,
                        Ok(n) => {
                            return Err(self.error(format!(
                                "index {n} is out of range at {at} (it has {} elements)",
                                items.len()
                            )));
                        }
                        Err(_) => items
                            .iter()
                            .position(|v| {
                                v.get("name").and_then(Value::as_str) == Some(seg.as_str())
                            })
                            .ok_or_else(|| {
                                self.error(format!("no element named {seg:?} at {at}"))
                            })?,
                    };
                    resolved.push_str(&format!("[{index}]"));
                    if last {
                        items[index] = self.value.clone();
                        return Ok(resolved);
                    }
                    &mut items[index]
                }
                other => {
                    let kind = match other {
                        Value::Null => "null",
                        Value::Bool(_) => "a boolean",
                        Value::Number(_) => "a number",
                        Value::String(_) => "a string",
                        _ => "a value",
                    };
                    return Err(self.error(format!(
                        "cannot go into {at}: it is {kind}, not an object or array"
                    )));
                }
            };
        }
        Ok(resolved)
    }

    fn error(&self, msg: String) -> InputError {
        InputError::Set {
            arg: self.arg.clone(),
            msg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(doc: &mut Value, arg: &str) -> Result<String, InputError> {
        Override::parse(arg)?.apply(doc)
    }

    #[test]
    fn sets_nested_fields_creating_missing_objects() {
        let mut doc = json!({"sync": {}});
        set(&mut doc, "sync.backoff.interval=4").unwrap();
        assert_eq!(doc, json!({"sync": {"backoff": {"interval": 4}}}));
    }

    #[test]
    fn picks_array_elements_by_index_or_name() {
        let mut doc = json!({"nodes": [{"name": "A"}, {"name": "B"}]});
        assert_eq!(set(&mut doc, "nodes.1.x=true").unwrap(), "nodes[1].x");
        assert_eq!(
            set(&mut doc, "nodes.A.availability={\"kind\":\"always\"}").unwrap(),
            "nodes[0].availability"
        );
        assert_eq!(doc["nodes"][1]["x"], json!(true));
        assert_eq!(doc["nodes"][0]["availability"]["kind"], json!("always"));
        assert!(
            set(&mut doc, "nodes.Z.x=1")
                .unwrap_err()
                .to_string()
                .contains("no element named \"Z\"")
        );
        assert!(
            set(&mut doc, "nodes.5.x=1")
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
    }

    #[test]
    fn values_are_json_or_else_strings() {
        let mut doc = json!({});
        set(&mut doc, "name=my run").unwrap();
        set(&mut doc, "seed=7").unwrap();
        assert_eq!(doc, json!({"name": "my run", "seed": 7}));
    }

    #[test]
    fn malformed_arguments_are_refused() {
        assert!(
            Override::parse("sync.backoff")
                .unwrap_err()
                .to_string()
                .contains("expected PATH=VALUE")
        );
        assert!(
            Override::parse("sync..x=1")
                .unwrap_err()
                .to_string()
                .contains("empty segment")
        );
        let mut doc = json!({"seed": 1});
        assert!(
            set(&mut doc, "seed.x=1")
                .unwrap_err()
                .to_string()
                .contains("it is a number")
        );
    }
}
