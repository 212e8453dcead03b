//! `dapr-rs list`: the apps `dapr-rs run` is running on this machine.

use crate::launcher::registry::{self, RunRecord};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,
}

pub fn list(args: ListArgs) -> u8 {
    let records = registry::running();
    match args.output {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&records).unwrap_or_else(|_| "[]".into())),
        ListFormat::Table if records.is_empty() => println!("No dapr-rs apps are running."),
        ListFormat::Table => print!("{}", table(&records, registry::now_secs())),
    }
    0
}

fn table(records: &[RunRecord], now: u64) -> String {
    let header = ["APP ID", "HTTP PORT", "GRPC PORT", "APP PORT", "COMMAND", "AGE", "PID", "APP PID", "RUN FILE"].map(String::from);
    let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    let rows: Vec<[String; 9]> = records
        .iter()
        .map(|r| {
            [
                r.app_id.clone(),
                r.http_port.to_string(),
                r.grpc_port.to_string(),
                opt(r.app_port.map(u32::from)),
                r.command.clone(),
                age(now.saturating_sub(r.started_at)),
                r.pid.to_string(),
                opt(r.app_pid),
                r.run_file.as_ref().map(|f| f.display().to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `45s`, `12m`, `3h`, `2d`, as `dapr list` shows ages.
fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_with_aligned_columns() {
        let r = RunRecord {
            app_id: "checkout".into(),
            pid: 10,
            app_pid: Some(11),
            host: "127.0.0.1".into(),
            http_port: 3500,
            grpc_port: 50001,
            metrics_port: None,
            app_port: None,
            app_protocol: "http".into(),
            command: "python3 app.py".into(),
            run_file: None,
            apps_in_run: 1,
            started_at: 100,
        };
        let t = table(&[r], 190);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("APP ID    HTTP PORT  GRPC PORT  APP PORT  COMMAND         AGE  PID  APP PID  RUN FILE"), "{t}");
        assert!(lines[1].starts_with("checkout  3500       50001                python3 app.py  1m   10   11"), "{t}");
        assert_eq!(age(59), "59s");
        assert_eq!(age(7200), "2h");
    }
}
