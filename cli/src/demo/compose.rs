//! [`Compose`]: the [`ShopControl`] of the shop in containers (`docker-compose.yml`, brought
//! up by `scripts/compose.sh up`). Faults are real: `docker kill` (SIGKILL to the container)
//! and `docker start`, and `docker network disconnect|connect` on the project's network for
//! a cut-off node. Containers are found by the labels Compose puts on them, so only the
//! `docker` CLI is needed; every address the demo is given is a port the container publishes
//! on the host, reached at 127.0.0.1 — never a container's private address.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::control::{Act, Fut, Layout, Node, ShopControl};
use crate::error::CliError;

/// Longest a `docker` command may take.
const DOCKER: Duration = Duration::from_secs(60);

/// One container of the project, as `docker inspect` describes it.
#[derive(Debug, Clone)]
struct Container {
    id: String,
    name: String,
    service: String,
    running: bool,
    networks: Vec<String>,
    /// `(container port, host port)` of each published TCP port.
    ports: Vec<(u16, u16)>,
}

/// The containers of Compose project `project`.
#[derive(Debug, Clone)]
pub struct Compose {
    project: String,
    network: String,
    /// Container id by service name.
    ids: BTreeMap<String, String>,
    /// Container name by service name (`confeitaria_catalog-2_1`).
    names: BTreeMap<String, String>,
}

/// Runs `docker args…` within [`DOCKER`]; its standard output, or an error with its
/// standard error.
async fn docker(args: &[&str]) -> Result<String, CliError> {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(args).kill_on_drop(true);
    let out = tokio::time::timeout(DOCKER, cmd.output())
        .await
        .map_err(|_| CliError::Timeout(format!("docker {}", args.join(" "))))?
        .map_err(|e| CliError::Other(format!("running docker: {e}")))?;
    if !out.status.success() {
        return Err(CliError::Other(format!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn label(project: &str) -> String {
    format!("label=com.docker.compose.project={project}")
}

/// Every container of the project, inspected.
async fn inspect(project: &str) -> Result<Vec<Container>, CliError> {
    let ids = docker(&["ps", "-aq", "--filter", &label(project)]).await?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Err(CliError::Other(format!(
            "no container of Compose project '{project}': start the stack with \
             `scripts/compose.sh up` (or name the project with COMPOSE_PROJECT_NAME / \
             --compose-project)"
        )));
    }
    let mut args = vec!["inspect"];
    args.extend(ids);
    let text = docker(&args).await?;
    let all: Vec<Value> = serde_json::from_str(&text)
        .map_err(|e| CliError::Other(format!("unreadable docker inspect: {e}")))?;
    Ok(all.iter().filter_map(parse).collect())
}

fn parse(v: &Value) -> Option<Container> {
    let service = v["Config"]["Labels"]["com.docker.compose.service"]
        .as_str()?
        .to_owned();
    let ports = v["HostConfig"]["PortBindings"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, b)| {
                    let inner: u16 = k.strip_suffix("/tcp")?.parse().ok()?;
                    let host: u16 = b[0]["HostPort"].as_str()?.parse().ok()?;
                    Some((inner, host))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Container {
        id: v["Id"].as_str()?.to_owned(),
        name: v["Name"].as_str()?.trim_start_matches('/').to_owned(),
        service,
        running: v["State"]["Running"].as_bool().unwrap_or(false),
        networks: v["NetworkSettings"]["Networks"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        ports,
    })
}

/// The catalog node id of a service named `catalog-N`.
fn node_id(service: &str) -> Option<u64> {
    service.strip_prefix("catalog-")?.parse().ok()
}

impl Compose {
    /// The containers of `project` and what they publish.
    pub async fn connect(project: &str) -> Result<(Self, Layout), CliError> {
        let boxes = inspect(project).await?;
        let nets = docker(&[
            "network",
            "ls",
            "--filter",
            &label(project),
            "--format",
            "{{.Name}}",
        ])
        .await?;
        let nets: Vec<&str> = nets.split_whitespace().collect();
        let default = format!("{project}_default");
        let network = nets
            .iter()
            .find(|n| **n == default)
            .or_else(|| nets.first())
            .map(|n| (*n).to_owned())
            .ok_or_else(|| {
                CliError::Other(format!("Compose project '{project}' has no network"))
            })?;

        let mut layout = Layout::default();
        let url = |b: &Container| {
            b.ports
                .first()
                .map(|(_, host)| format!("http://127.0.0.1:{host}"))
        };
        for b in &boxes {
            match (node_id(&b.service), b.service.as_str()) {
                (Some(id), _) => {
                    let Some(&(inner, host)) = b.ports.first() else {
                        return Err(CliError::Other(format!(
                            "{} publishes no port: the demo reaches nodes only on 127.0.0.1",
                            b.name
                        )));
                    };
                    layout.nodes.push(Node {
                        id,
                        reach: format!("127.0.0.1:{host}"),
                        known_as: format!("{}:{inner}", b.service),
                    });
                }
                (None, "gateway") => layout.gateway = url(b),
                (None, "cart") => layout.cart = url(b),
                (None, "orders") => layout.orders = url(b),
                _ => {}
            }
            if node_id(&b.service).is_none() {
                layout.services.push(b.service.clone());
            }
        }
        layout.nodes.sort_by_key(|n| n.id);
        let me = Self {
            project: project.to_owned(),
            network,
            ids: boxes
                .iter()
                .map(|b| (b.service.clone(), b.id.clone()))
                .collect(),
            names: boxes
                .iter()
                .map(|b| (b.service.clone(), b.name.clone()))
                .collect(),
        };
        Ok((me, layout))
    }

    fn id(&self, service: &str) -> Result<&str, CliError> {
        self.ids.get(service).map(String::as_str).ok_or_else(|| {
            CliError::Other(format!(
                "Compose project '{}' has no service {service}",
                self.project
            ))
        })
    }

    async fn on(&self, verb: &str, service: &str) -> Result<(), CliError> {
        docker(&[verb, self.id(service)?]).await.map(|_| ())
    }

    async fn connect_net(&self, service: &str) -> Result<(), CliError> {
        // The alias gives the service's name back: peers reach `catalog-2` by it.
        let id = self.id(service)?;
        docker(&["network", "connect", "--alias", service, &self.network, id])
            .await
            .map(|_| ())
    }

    fn name(&self, target: &str) -> String {
        let service = match target.parse::<u64>() {
            Ok(id) => format!("catalog-{id}"),
            Err(_) => target.to_owned(),
        };
        self.names.get(&service).cloned().unwrap_or(service)
    }
}

fn node(id: u64) -> String {
    format!("catalog-{id}")
}

impl ShopControl for Compose {
    fn kind(&self) -> &'static str {
        "docker compose"
    }

    fn kill_node(&self, id: u64) -> Fut<'_, ()> {
        Box::pin(async move { self.on("kill", &node(id)).await })
    }

    fn start_node(&self, id: u64) -> Fut<'_, ()> {
        Box::pin(async move { self.on("start", &node(id)).await })
    }

    fn cut_off(&self, id: u64) -> Fut<'_, ()> {
        Box::pin(async move {
            let c = self.id(&node(id))?;
            docker(&["network", "disconnect", &self.network, c])
                .await
                .map(|_| ())
        })
    }

    fn reconnect(&self, id: u64) -> Fut<'_, ()> {
        Box::pin(async move { self.connect_net(&node(id)).await })
    }

    fn kill_service<'a>(&'a self, name: &'a str) -> Fut<'a, ()> {
        Box::pin(self.on("kill", name))
    }

    fn start_service<'a>(&'a self, name: &'a str) -> Fut<'a, ()> {
        Box::pin(self.on("start", name))
    }

    fn restore(&self) -> Fut<'_, Vec<String>> {
        Box::pin(async move {
            let mut boxes = inspect(&self.project).await?;
            // Redis first (the cart and orders stand on it), then the catalog.
            boxes.sort_by_key(|b| (b.service != "redis", node_id(&b.service).is_none()));
            let mut mended = Vec::new();
            for b in boxes {
                let mut fixed = false;
                if node_id(&b.service).is_some() && !b.networks.contains(&self.network) {
                    self.connect_net(&b.service).await?;
                    fixed = true;
                }
                if !b.running {
                    docker(&["start", &b.id]).await?;
                    fixed = true;
                }
                if fixed {
                    mended.push(b.service);
                }
            }
            Ok(mended)
        })
    }

    fn how(&self, act: Act, target: &str) -> String {
        let c = self.name(target);
        match act {
            Act::Kill => format!("docker kill {c}"),
            Act::Start => format!("docker start {c}"),
            Act::CutOff => format!("docker network disconnect {} {c}", self.network),
            Act::Reconnect => format!(
                "docker network connect --alias {} {} {c}",
                self.names
                    .iter()
                    .find(|(_, n)| **n == c)
                    .map_or(target, |(s, _)| s.as_str()),
                self.network
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_read_from_docker_inspect() {
        let v: Value = serde_json::json!({
            "Id": "abc",
            "Name": "/confeitaria_catalog-2_1",
            "Config": {"Labels": {"com.docker.compose.service": "catalog-2"}},
            "State": {"Running": true},
            "HostConfig": {"PortBindings": {"5011/tcp": [{"HostIp": "127.0.0.1", "HostPort": "25011"}]}},
            "NetworkSettings": {"Networks": {"confeitaria_default": {}}}
        });
        let b = parse(&v).unwrap();
        assert_eq!(b.name, "confeitaria_catalog-2_1");
        assert_eq!(b.ports, vec![(5011, 25011)]);
        assert_eq!(b.networks, vec!["confeitaria_default".to_owned()]);
        assert_eq!(node_id(&b.service), Some(2));
        assert_eq!(node_id("cart"), None);
    }
}
