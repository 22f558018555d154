//! The turmoil adapters on their own: an axum server on [`SimListener`], the real client
//! transport on [`SimConnector`].

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use confeitaria_client::Transport;
use http::Method;
use sim_tests::net::{SimConnector, SimListener};

fn server() -> turmoil::Sim<'static> {
    let mut sim = turmoil::Builder::new().rng_seed(1).build();
    sim.host("srv", || async {
        let app = Router::new().route("/", get(|| async { "bolo" }));
        axum::serve(SimListener::bind(80).await?, app).await?;
        Ok(())
    });
    sim
}

#[test]
fn an_axum_server_answers_the_client_transport_over_simulated_sockets() {
    let mut sim = server();
    sim.client("cli", async {
        let t = Transport::new(SimConnector::default());
        let r = t
            .send(
                Method::GET,
                "http://srv:80/",
                &[],
                None,
                Duration::from_secs(1),
            )
            .await?;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], b"bolo");
        // A second call reuses the pooled connection.
        let r = t
            .send(
                Method::GET,
                "http://srv:80/",
                &[],
                None,
                Duration::from_secs(1),
            )
            .await?;
        assert_eq!(&r.body[..], b"bolo");
        Ok(())
    });
    sim.run().unwrap();
}

/// Connects that cannot complete are reported as "never sent", so callers may safely try
/// another node: into a partition turmoil drops the SYN and the connect fails at once; with
/// the link held, the connector's own deadline ends it.
#[test]
fn a_connect_that_cannot_complete_fails_as_never_sent() {
    let mut sim = server();
    sim.client("cli", async {
        let t = Transport::new(SimConnector::new(Duration::from_millis(300)));
        let get = || {
            t.send(
                Method::GET,
                "http://srv:80/",
                &[],
                None,
                Duration::from_secs(5),
            )
        };
        turmoil::partition("cli", "srv");
        let e = get().await.expect_err("partitioned");
        assert!(e.never_sent(), "{e:?}");
        turmoil::repair("cli", "srv");

        turmoil::hold("cli", "srv");
        let start = tokio::time::Instant::now();
        let e = get().await.expect_err("held");
        let took = start.elapsed();
        assert!(e.never_sent(), "{e:?}");
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(1),
            "{took:?}"
        );
        turmoil::release("cli", "srv");
        Ok(())
    });
    sim.run().unwrap();
}
