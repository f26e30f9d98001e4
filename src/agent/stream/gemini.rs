//! Gemini CLI's `--output-format stream-json`: assistant text comes as `delta`
//! chunks joined into lines, tools as `tool_use` / `tool_result` pairs, and a
//! final `result` with the run's status and stats.

use super::{one_line, push_message, quoted, str_at, AgentEvent, StreamParser};
use serde_json::Value;

impl StreamParser {
    pub(super) fn gemini(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
        match str_at(v, "type") {
            "message" if str_at(v, "role") == "assistant" => {
                let content = str_at(v, "content");
                if v.get("delta").and_then(Value::as_bool) == Some(true) {
                    self.text.push(content, out);
                } else {
                    self.text.flush(out);
                    push_message(content, out);
                }
            }
            "tool_use" => {
                self.text.flush(out);
                let params = v.get("parameters").unwrap_or(&Value::Null);
                self.gemini_tool(str_at(v, "tool_name"), params, out);
            }
            "tool_result" if !matches!(str_at(v, "status"), "success" | "") => {
                let msg = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| str_at(v, "output"));
                let msg = if msg.is_empty() { "tool failed" } else { msg };
                out.push(AgentEvent::ToolFailed(one_line(msg)));
            }
            "error" => {
                self.text.flush(out);
                let msg = ["message", "content"]
                    .iter()
                    .map(|k| str_at(v, k))
                    .find(|s| !s.is_empty())
                    .unwrap_or("error");
                out.push(AgentEvent::Notice(format!("warning: {}", one_line(msg))));
            }
            "result" => {
                self.text.flush(out);
                let ok = str_at(v, "status") == "success";
                let detail = (!ok).then(|| {
                    let m = v
                        .pointer("/error/message")
                        .and_then(Value::as_str)
                        .unwrap_or_else(|| str_at(v, "status"));
                    one_line(m)
                });
                out.push(AgentEvent::Result {
                    ok,
                    detail,
                    duration_ms: v.pointer("/stats/duration_ms").and_then(Value::as_u64),
                });
            }
            _ => {}
        }
    }

    fn gemini_tool(&self, name: &str, p: &Value, out: &mut Vec<AgentEvent>) {
        let first = |keys: &[&str]| -> String {
            keys.iter()
                .map(|k| str_at(p, k))
                .find(|s| !s.is_empty())
                .unwrap_or("")
                .to_string()
        };
        let path = first(&["file_path", "absolute_path", "path", "dir_path"]);
        match name {
            "read_file" => self.file_tool("Read", &path, out),
            "read_many_files" => self.tool("Read", String::new(), out),
            "replace" | "edit" => self.file_tool("Edit", &path, out),
            "write_file" => self.file_tool("Write", &path, out),
            "list_directory" => self.file_tool("List", &path, out),
            "glob" => self.tool("Find", one_line(&first(&["pattern"])), out),
            "grep_search" | "search_file_content" | "grep" => {
                self.tool("Search", quoted(&first(&["pattern"])), out)
            }
            "run_shell_command" => self.tool("Run", one_line(&first(&["command"])), out),
            "google_web_search" => self.tool("Search web", quoted(&first(&["query"])), out),
            "web_fetch" => self.tool("Fetch", one_line(&first(&["url", "prompt"])), out),
            other => self.tool(&one_line(other), String::new(), out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{run, WS};
    use super::super::*;

    #[test]
    fn gemini_capture() {
        let (_, shown) = run(
            StreamFormat::GeminiJson,
            include_str!("../../../fixtures/agents/streams/gemini-0.61.0-fix-stream.jsonl"),
        );
        assert_eq!(
            shown,
            [
                "Fixing the lookup.",
                "Edit app.py",
                "Fixed the lookup.",
                "Agent finished in 0.2s"
            ]
        );
    }

    #[test]
    fn gemini_deltas_join_into_lines() {
        let mut p = StreamParser::new(StreamFormat::GeminiJson, Path::new(WS));
        let d = |s: &str| {
            format!(
                r#"{{"type":"message","role":"assistant","content":{},"delta":true}}"#,
                serde_json::Value::from(s)
            )
        };
        assert!(p.feed_line(&d("I will ")).is_empty());
        assert!(p.feed_line(&d("read the")).is_empty());
        assert_eq!(
            p.feed_line(&d(" file.\nThen ")),
            [AgentEvent::Text("I will read the file.".into())]
        );
        let ev = p.feed_line(r#"{"type":"tool_use","tool_name":"read_file","tool_id":"t1","parameters":{"absolute_path":"/home/dev/shop/src/app.py"}}"#);
        assert_eq!(
            ev,
            [
                AgentEvent::Text("Then".into()),
                AgentEvent::Tool {
                    name: "Read".into(),
                    detail: "src/app.py".into(),
                    path: Some("/home/dev/shop/src/app.py".into()),
                }
            ]
        );
        let ev = p.feed_line(r#"{"type":"tool_result","tool_id":"t1","status":"error","error":{"type":"x","message":"File not found"}}"#);
        assert_eq!(ev, [AgentEvent::ToolFailed("File not found".into())]);
        assert!(p.feed_line(&d("done")).is_empty());
        assert_eq!(p.finish(), [AgentEvent::Text("done".into())]);
    }
}
