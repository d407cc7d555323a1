//! What user SQL may do: read the history tables, nothing else. Checked twice, on the text and
//! on the plan, so neither a parser extension nor a planner feature can slip a write through:
//!
//! 1. the statement: exactly one, and a query (`SELECT`, `WITH`, `VALUES`), `EXPLAIN` of one,
//!    `SHOW TABLES`, `SHOW COLUMNS` or `DESCRIBE`. DDL, DML, `COPY`, `SET`, `RESET`,
//!    transactions and `CREATE EXTERNAL TABLE` are refused;
//! 2. the logical plan: DataFusion's own DDL/DML/statement check, and every table it scans
//!    must be a history table or `information_schema` (no table functions, no file URLs).

use super::tables::Table;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::Statement as Sql;
use datafusion::sql::sqlparser::dialect::GenericDialect;

/// Longest SQL text accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 32 * 1024;

/// Why a statement was refused: shown to the user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse(message: impl Into<String>) -> Refusal {
    Refusal(message.into())
}

/// DataFusion's plan check with everything but queries switched off.
pub fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Checks the text: one read-only statement.
pub fn check_statement(sql: &str) -> Result<(), Refusal> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(refuse(format!(
            "the statement is longer than {MAX_SQL_BYTES} bytes"
        )));
    }
    let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
        .map_err(|e| refuse(format!("SQL does not parse: {e}")))?;
    match statements.len() {
        0 => return Err(refuse("no SQL statement")),
        1 => {}
        n => {
            return Err(refuse(format!(
                "one statement per request ({n} were given)"
            )));
        }
    }
    check_one(&statements[0])
}

fn check_one(statement: &Statement) -> Result<(), Refusal> {
    match statement {
        Statement::Statement(inner) => match inner.as_ref() {
            Sql::Query(_)
            | Sql::ShowTables { .. }
            | Sql::ShowColumns { .. }
            | Sql::ExplainTable { .. } => Ok(()),
            Sql::Explain { statement, .. } => match statement.as_ref() {
                Sql::Query(_) => Ok(()),
                _ => Err(refuse("EXPLAIN is allowed for queries only")),
            },
            other => Err(refuse(format!(
                "only queries are allowed (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE); `{}` changes or configures the database",
                first_words(&other.to_string())
            ))),
        },
        Statement::Explain(explain) => check_one(&explain.statement),
        Statement::CreateExternalTable(_) => Err(refuse(
            "CREATE EXTERNAL TABLE is not allowed: queries read the history tables only",
        )),
        Statement::CopyTo(_) => Err(refuse("COPY is not allowed: queries cannot write files")),
        Statement::Reset(_) => Err(refuse("RESET is not allowed: the session is read-only")),
    }
}

/// The first two words of a statement, for a refusal message.
fn first_words(sql: &str) -> String {
    sql.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// True for the tables a user may read.
fn readable(table: &datafusion::common::TableReference) -> bool {
    match table.schema() {
        Some("information_schema") => true,
        None | Some("public") => Table::ALL.iter().any(|t| t.name() == table.table()),
        Some(_) => false,
    }
}

/// Checks the plan: no DDL, DML or statements, and scans of the history tables only.
pub fn check_plan(plan: &LogicalPlan) -> Result<(), Refusal> {
    read_only_options()
        .verify_plan(plan)
        .map_err(|e| refuse(e.strip_backtrace()))?;
    let mut refusal = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && !readable(&scan.table_name)
        {
            refusal = Some(refuse(format!(
                "`{}` is not a history table; queries read {} and information_schema only",
                scan.table_name,
                Table::ALL.map(|t| t.name()).join(", ")
            )));
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| refuse(e.strip_backtrace()))?;
    refusal.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_pass() {
        for sql in [
            "SELECT * FROM metrics",
            "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
            "EXPLAIN SELECT count(*) FROM breaches",
            "SHOW TABLES",
            "SHOW COLUMNS FROM metrics",
            "DESCRIBE metrics",
            "select 1;",
        ] {
            check_statement(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn writes_files_settings_and_several_statements_are_refused() {
        let cases = [
            (
                "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
            ("INSERT INTO metrics VALUES (1)", "only queries"),
            ("DROP TABLE metrics", "only queries"),
            (
                "CREATE OR REPLACE VIEW breaches AS SELECT 1",
                "only queries",
            ),
            ("SET datafusion.execution.batch_size = 1", "only queries"),
            ("EXPLAIN INSERT INTO metrics VALUES (1)", "only queries"),
            ("SELECT 1; DROP TABLE metrics", "one statement per request"),
            ("", "no SQL statement"),
        ];
        for (sql, expected) in cases {
            let err = check_statement(sql).expect_err(sql);
            assert!(err.0.contains(expected), "{sql}: {err}");
        }
    }
}
