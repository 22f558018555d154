//! `probe URL [DEADLINE_MS]`: a container healthcheck with no shell tools needed. Exits 0 when
//! `GET URL` answers 2xx within the deadline (default 2000 ms), printing the body (so `docker
//! exec` can read a cut-off node's own view), 1 otherwise, saying why.

use std::process::ExitCode;
use std::time::Duration;

use confeitaria_client::transport::Transport;
use http::Method;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: probe URL [DEADLINE_MS]");
        return ExitCode::from(2);
    };
    let deadline = args.next().and_then(|d| d.parse().ok()).unwrap_or(2000);
    let answer = Transport::http()
        .send(
            Method::GET,
            &url,
            &[],
            None,
            Duration::from_millis(deadline),
        )
        .await;
    match answer {
        Ok(r) if r.status.is_success() => {
            println!("{}", String::from_utf8_lossy(&r.body));
            ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!("{url}: {}", r.status);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            ExitCode::FAILURE
        }
    }
}
