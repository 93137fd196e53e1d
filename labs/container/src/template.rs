//! `--format`: Go templates as docker users write them (`{{.State.Pid}}`, `{{json .Config}}`,
//! `{{range .Mounts}}{{.Source}}{{end}}`), through the gtmpl crate, with docker's extra
//! functions `json`, `join`, `lower`, `upper`, `split`.

use crate::error::{Error, Result};
use gtmpl_value::{FuncError, Number, Value};
use std::collections::HashMap;

pub struct Format {
    text: String,
    template: gtmpl::Template,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format> {
        let mut template = gtmpl::Template::default();
        template.add_funcs(&[
            ("json", json as gtmpl_value::Func),
            ("join", join as gtmpl_value::Func),
            ("lower", lower as gtmpl_value::Func),
            ("upper", upper as gtmpl_value::Func),
            ("split", split as gtmpl_value::Func),
        ]);
        template.parse(text).map_err(|e| Error::Template {
            template: text.to_string(),
            why: format!("{e} (check the {{{{ }}}} pairs)"),
        })?;
        Ok(Format { text: text.to_string(), template })
    }

    pub fn render(&self, data: &serde_json::Value) -> Result<String> {
        let context = gtmpl::Context::from(to_gtmpl(data));
        self.template.render(&context).map_err(|e| Error::Template { template: self.text.clone(), why: e.to_string() })
    }
}

pub fn to_gtmpl(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Number(Number::from(i)),
            (_, Some(u)) => Value::Number(Number::from(u)),
            _ => Value::Number(Number::from(n.as_f64().unwrap_or(0.0))),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_gtmpl).collect()),
        serde_json::Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), to_gtmpl(v))).collect::<HashMap<_, _>>())
        }
    }
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Nil | Value::NoValue | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::json!(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::json!(u)
            } else {
                serde_json::json!(n.as_f64())
            }
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Object(o) | Value::Map(o) => {
            serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn arg<'a>(args: &'a [Value], n: usize, name: &str) -> std::result::Result<&'a Value, FuncError> {
    args.get(n).ok_or_else(|| FuncError::Generic(format!("{name} needs {} argument(s)", n + 1)))
}

fn string_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(Value::String(serde_json::to_string(&to_json(arg(args, 0, "json")?)).expect("JSON serialises")))
}

fn join(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let sep = string_of(arg(args, 1, "join")?);
    match arg(args, 0, "join")? {
        Value::Array(a) => Ok(Value::String(a.iter().map(string_of).collect::<Vec<_>>().join(&sep))),
        other => Ok(Value::String(string_of(other))),
    }
}

fn lower(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(Value::String(string_of(arg(args, 0, "lower")?).to_lowercase()))
}

fn upper(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(Value::String(string_of(arg(args, 0, "upper")?).to_uppercase()))
}

fn split(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let text = string_of(arg(args, 0, "split")?);
    let sep = string_of(arg(args, 1, "split")?);
    Ok(Value::Array(text.split(sep.as_str()).map(|s| Value::String(s.to_string())).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docker_users_templates_render() {
        let doc = json!({"State": {"Pid": 42, "Running": true}, "Config": {"Env": ["A=1", "B=2"]},
                         "Mounts": [{"Source": "/a"}, {"Source": "/b"}]});
        let render = |t: &str| Format::parse(t).unwrap().render(&doc).unwrap();
        assert_eq!(render("{{.State.Pid}}"), "42");
        assert_eq!(render("{{json .Config}}"), r#"{"Env":["A=1","B=2"]}"#);
        assert_eq!(render("{{range .Mounts}}{{.Source}} {{end}}"), "/a /b ");
        assert_eq!(render("{{join .Config.Env \",\"}}"), "A=1,B=2");
        assert_eq!(render("{{if .State.Running}}up{{end}}"), "up");
    }

    #[test]
    fn an_unterminated_action_is_a_clear_error() {
        let err = Format::parse("{{.Nope").err().unwrap().to_string();
        assert!(err.contains("--format \"{{.Nope\""), "{err}");
    }
}
