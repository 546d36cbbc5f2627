//! What a run of the client returns: the server, its tools and the results.

use rmcp::model::CallToolResult;
use serde::Serialize;

// ANCHOR: outcome
/// What a successful run produced (printed as JSON with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The server's name and version from `initialize`.
    pub server_name: String,
    /// The server's version.
    pub server_version: String,
    /// The negotiated MCP protocol version.
    pub protocol_version: String,
    /// The names of the tools the server offers.
    pub tools: Vec<String>,
    /// Each tool call and its result, in order.
    pub calls: Vec<ToolCall>,
    /// How many times the person was sent to the login page.
    pub logins: u32,
}

/// One `tools/call` and its result.
#[derive(Debug, Clone, Serialize)]
pub struct ToolCall {
    /// The tool.
    pub tool: String,
    /// Its arguments.
    pub arguments: serde_json::Value,
    /// What it returned.
    pub result: CallToolResult,
}
// ANCHOR_END: outcome
