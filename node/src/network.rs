//! openraft's network: Raft messages sent as JSON over the RPC port, each under the deadline
//! openraft gives it. A node never sends to itself (openraft does not ask it to).

use confeitaria_types::NodeAddr;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use raft_store::{NodeId, TypeConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;

use std::sync::Arc;

use crate::contacts::Contacts;
use crate::rpc::client::{RpcClient, RpcError};
use crate::rpc::wire::route;

/// Creates one [`PeerConnection`] per target.
#[derive(Debug, Clone)]
pub struct Network {
    rpc: RpcClient,
    contacts: Arc<Contacts>,
}

impl Network {
    /// A network sending through `rpc`, stamping `contacts` on every answer.
    pub fn new(rpc: RpcClient, contacts: Arc<Contacts>) -> Self {
        Self { rpc, contacts }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> Self::Network {
        PeerConnection {
            rpc: self.rpc.clone(),
            contacts: self.contacts.clone(),
            target,
            addr: node.rpc_addr.clone(),
        }
    }
}

/// Sends Raft messages to one peer.
#[derive(Debug)]
pub struct PeerConnection {
    rpc: RpcClient,
    contacts: Arc<Contacts>,
    target: NodeId,
    addr: String,
}

type Rpc<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, NodeAddr, RaftError<NodeId, E>>>;

impl PeerConnection {
    async fn send<Req, Resp, E>(&self, path: &str, req: &Req, option: &RPCOption) -> Rpc<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let res: Result<Resp, RaftError<NodeId, E>> = self
            .rpc
            .call(&self.addr, path, req, option.hard_ttl())
            .await
            .map_err(|e| match e {
                RpcError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&e)),
                _ => RPCError::Network(NetworkError::new(&e)),
            })?;
        self.contacts.touch(self.target);
        res.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    /// How long replication to an unreachable peer waits before trying again. openraft's
    /// default is a constant 500 ms, so a node restarted after a crash waited up to half a
    /// second before the leader noticed it; a refused connection is cheap, so retry every
    /// 100 ms.
    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(std::time::Duration::from_millis(100)))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<NodeId>> {
        self.send(route::APPEND, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.send(route::SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Rpc<VoteResponse<NodeId>> {
        self.send(route::VOTE, &rpc, &option).await
    }
}
