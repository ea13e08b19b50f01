//! `{{ ... }}` placeholders in commands and env values, rendered with minijinja: the port
//! benchrig chose, other processes' and services' ports, a scratch directory, and rendered
//! configuration files (`{{ render('servers/nginx/front.conf.j2') }}`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

use super::diagnose::closest_name;

/// Top-level names a placeholder may use.
pub const PLACEHOLDERS: &[&str] = &[
    "port",
    "name",
    "experiment",
    "scratch",
    "services",
    "processes",
    "render",
];

/// What placeholders of one process see.
#[derive(Debug, Clone, Default)]
pub struct PlaceholderContext {
    pub experiment: String,
    /// The variant's (or service's) name.
    pub name: String,
    pub port: u16,
    /// A directory of this trial for generated files; removed after the trial.
    pub scratch: PathBuf,
    /// Ports of the services, by name.
    pub services: BTreeMap<String, u16>,
    /// Ports of the variant's processes started before this one, by name.
    pub processes: BTreeMap<String, u16>,
    /// Where `render('path')` looks for templates.
    pub workdir: PathBuf,
    /// `render()` writes files only when launching, not when a manifest is validated.
    pub write_files: bool,
}

/// `{ NAME: { port: P } }`
fn ports(map: &BTreeMap<String, u16>) -> Value {
    Value::from(
        map.iter()
            .map(|(name, port)| {
                let entry: BTreeMap<&str, Value> = [("port", Value::from(*port))].into();
                (name.clone(), Value::from(entry))
            })
            .collect::<BTreeMap<String, Value>>(),
    )
}

impl PlaceholderContext {
    fn value_map(&self) -> BTreeMap<String, Value> {
        [
            ("port", Value::from(self.port)),
            ("name", Value::from(self.name.clone())),
            ("experiment", Value::from(self.experiment.clone())),
            ("scratch", Value::from(self.scratch.display().to_string())),
            ("services", ports(&self.services)),
            ("processes", ports(&self.processes)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn values(&self) -> Value {
        Value::from(self.value_map())
    }
}

fn environment(ctx: &Arc<PlaceholderContext>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    let ctx = ctx.clone();
    env.add_function(
        "render",
        move |path: String, vars: Kwargs| -> Result<String, Error> {
            render_file(&ctx, &path, vars)
        },
    );
    env
}

/// `render('path', key=value, ...)`: the template file rendered with the placeholders (and
/// `vars`) into the scratch directory; returns the written file's path.
fn render_file(ctx: &Arc<PlaceholderContext>, path: &str, vars: Kwargs) -> Result<String, Error> {
    let invalid = |message: String| Error::new(ErrorKind::InvalidOperation, message);
    let source = ctx.workdir.join(path);
    let text = std::fs::read_to_string(&source)
        .map_err(|e| invalid(format!("cannot read template `{path}`: {e}")))?;
    let mut values = ctx.value_map();
    for key in vars.args() {
        values.insert(key.to_owned(), vars.get::<Value>(key)?);
    }
    let rendered = environment(ctx)
        .render_str(&text, Value::from(values))
        .map_err(|e| invalid(format!("in `{path}`: {e}")))?;
    let file_name = Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("rendered")
        .trim_end_matches(".j2")
        .to_owned();
    let target = ctx.scratch.join(file_name);
    if ctx.write_files {
        std::fs::create_dir_all(&ctx.scratch)
            .and_then(|_| std::fs::write(&target, rendered))
            .map_err(|e| invalid(format!("cannot write {}: {e}", target.display())))?;
    }
    Ok(target.display().to_string())
}

fn suggestion_for(name: &str) -> String {
    closest_name(name, PLACEHOLDERS.iter().copied())
        .map(|p| format!("did you mean `{{{{ {p} }}}}`?"))
        .unwrap_or_else(|| {
            format!(
                "placeholders are: {}",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("`{{{{ {p} }}}}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// Renders `text`; the error says which placeholder is wrong and what exists.
pub fn render(text: &str, ctx: &PlaceholderContext) -> Result<String, String> {
    if !text.contains("{{") && !text.contains("{%") {
        return Ok(text.to_owned());
    }
    let ctx = Arc::new(ctx.clone());
    let env = environment(&ctx);
    if let Ok(template) = env.template_from_str(text) {
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|name| !PLACEHOLDERS.contains(&name.as_str()))
            .collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            return Err(format!(
                "unknown placeholder `{name}` in `{text}`; {}",
                suggestion_for(name)
            ));
        }
        // `services.x` and `processes.x` must name something that exists.
        for (map, known) in [("services", &ctx.services), ("processes", &ctx.processes)] {
            for name in super::expressions::referenced_names(text, map) {
                if !known.contains_key(&name) {
                    let listed: Vec<&str> = known.keys().map(String::as_str).collect();
                    let what = if map == "processes" {
                        "processes started before this one"
                    } else {
                        "services"
                    };
                    return Err(format!(
                        "`{map}.{name}` in `{text}` does not exist; {what}: {}",
                        if listed.is_empty() {
                            "none".to_owned()
                        } else {
                            listed.join(", ")
                        }
                    ));
                }
            }
        }
    }
    env.render_str(text, ctx.values()).map_err(|e| {
        format!(
            "cannot render `{text}`: {}",
            e.detail()
                .map_or_else(|| e.kind().to_string(), str::to_owned)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(dir: &Path) -> PlaceholderContext {
        PlaceholderContext {
            experiment: "demo".into(),
            name: "front".into(),
            port: 8080,
            scratch: dir.join("scratch"),
            services: [("downstream".to_owned(), 9000)].into(),
            processes: [("app".to_owned(), 8081)].into(),
            workdir: dir.to_owned(),
            write_files: true,
        }
    }

    #[test]
    fn ports_of_processes_and_services() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(dir.path());
        assert_eq!(render("{{ port }}", &ctx).unwrap(), "8080");
        assert_eq!(
            render("http://127.0.0.1:{{ services.downstream.port }}", &ctx).unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            render("127.0.0.1:{{ processes.app.port }}", &ctx).unwrap(),
            "127.0.0.1:8081"
        );
        assert_eq!(render("plain", &ctx).unwrap(), "plain");
    }

    #[test]
    fn unknown_names_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(dir.path());
        assert!(render("{{ prot }}", &ctx)
            .unwrap_err()
            .contains("did you mean `{{ port }}`?"));
        let err = render("{{ services.nope.port }}", &ctx).unwrap_err();
        assert!(
            err.contains("`services.nope`") && err.contains("services: downstream"),
            "{err}"
        );
        let err = render("{{ processes.later.port }}", &ctx).unwrap_err();
        assert!(
            err.contains("processes started before this one: app"),
            "{err}"
        );
    }

    #[test]
    fn render_writes_a_config_file_into_scratch() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("front.conf.j2"),
            "listen 127.0.0.1:{{ port }};\nupstream 127.0.0.1:{{ processes.app.port }};\n{% if epoll %}use epoll;{% endif %}\n",
        )
        .unwrap();
        let ctx = ctx(dir.path());
        let path = render("{{ render('front.conf.j2', epoll=true) }}", &ctx).unwrap();
        assert_eq!(
            path,
            dir.path().join("scratch/front.conf").display().to_string()
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "listen 127.0.0.1:8080;\nupstream 127.0.0.1:8081;\nuse epoll;\n"
        );
        let dry = PlaceholderContext {
            write_files: false,
            scratch: dir.path().join("dry"),
            ..ctx.clone()
        };
        render("{{ render('front.conf.j2', epoll=false) }}", &dry).unwrap();
        assert!(
            !dir.path().join("dry").exists(),
            "validation writes nothing"
        );
        assert!(render("{{ render('missing.j2') }}", &ctx)
            .unwrap_err()
            .contains("cannot read template"));
    }
}
