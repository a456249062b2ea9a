//! The one CSV writer of oocr (sweep aggregates, the report's data files): a header row and rows
//! of cells, quoted by the `csv` crate where needed (RFC 4180).

/// CSV text of `header` and `rows` (every row as long as the header), `\n` line ends.
pub fn csv_text<H, C>(header: &[H], rows: &[Vec<C>]) -> String
where
    H: AsRef<str>,
    C: AsRef<str>,
{
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut put = |cells: &mut dyn Iterator<Item = &str>| {
        w.write_record(cells)
            .expect("writing CSV to memory cannot fail")
    };
    put(&mut header.iter().map(AsRef::as_ref));
    for r in rows {
        put(&mut r.iter().map(AsRef::as_ref));
    }
    let bytes = w.into_inner().expect("flushing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
}

/// A number as a CSV cell: Rust's shortest round-trip form (`NaN`, `inf` for non-finite).
pub fn num_cell(x: f64) -> String {
    format!("{x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_where_needed() {
        let rows = vec![
            vec!["1".to_string(), "a,b".into()],
            vec!["2".into(), "say \"hi\"".into()],
        ];
        assert_eq!(
            csv_text(&["x", "y"], &rows),
            "x,y\n1,\"a,b\"\n2,\"say \"\"hi\"\"\"\n"
        );
        assert_eq!(num_cell(0.5), "0.5");
        assert_eq!(num_cell(f64::NAN), "NaN");
    }
}
