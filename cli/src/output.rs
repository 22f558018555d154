//! Plain-text tables and small formatting helpers.

/// Renders `rows` under `headers`, columns left-aligned and padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// An optional number, or `-`.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Cents as Brazilian reais: `R$ 45,00`.
pub fn reais(cents: u64) -> String {
    format!("R$ {},{:02}", cents / 100, cents % 100)
}

/// The local time of day with milliseconds (UTC), for event lines.
pub fn clock() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ms = now.as_millis() % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let t = table(
            &["ID", "NOME"],
            &[
                vec!["1".into(), "Bolo".into()],
                vec!["12".into(), "Pão de mel".into()],
            ],
        );
        assert_eq!(t, "ID  NOME\n1   Bolo\n12  Pão de mel\n");
    }

    #[test]
    fn cents_are_reais() {
        assert_eq!(reais(4500), "R$ 45,00");
        assert_eq!(reais(5), "R$ 0,05");
    }
}
