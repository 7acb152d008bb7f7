//! The Kubernetes objects and scheduler-extender messages (`k8s.io/kube-scheduler/extender/v1`)
//! as the service reads and writes them: the annotation and label keys, and only the fields
//! used (see [`crate::extender`] for what each means).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// Pod annotation: the workload profile (JSON or RON).
pub const ANN_WORKLOAD: &str = "placement.neardata.io/workload";
/// Pod annotation: the id of a loaded workload.
pub const ANN_WORKLOAD_ID: &str = "placement.neardata.io/workload-id";
/// Pod annotation: the node holding the function's data.
pub const ANN_DATA_NODE: &str = "placement.neardata.io/data-node";
/// Pod annotation: the storage node's utilisation in `[0, 1)`.
pub const ANN_UTILISATION: &str = "placement.neardata.io/storage-utilisation";
/// Pod annotation: the warm-hit probability in `[0, 1]`.
pub const ANN_WARM_HIT: &str = "placement.neardata.io/warm-hit";
/// Pod annotation: requests the storage server drains per wake-up (>= 1).
pub const ANN_DRAINED: &str = "placement.neardata.io/drained-per-wakeup";
/// Pod annotation: requests sharing one read and one write at the storage server (>= 1;
/// pipelining).
pub const ANN_REQUESTS_PER_SYSCALL: &str = "placement.neardata.io/requests-per-syscall";
/// Pod annotation: clients the server's replies wake per request (>= 0).
pub const ANN_PEER_WAKEUPS: &str = "placement.neardata.io/peer-wakeups-per-request";
/// Pod annotation: the objective.
pub const ANN_OBJECTIVE: &str = "placement.neardata.io/objective";
/// Node label: `storage` or `compute`.
pub const LABEL_ROLE: &str = "placement.neardata.io/role";
/// Node annotation: free CPU in cores.
pub const ANN_FREE_CORES: &str = "placement.neardata.io/free-cores";

/// Highest score the extender protocol allows (`MaxExtenderPriority`).
pub const MAX_PRIORITY: i64 = 10;

// The Kubernetes objects are read with borrowed strings and only the keys the service uses:
// the rest of each object is skipped without allocating (a Node is 1-2 KB of JSON).

/// The pod annotations the service reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodAnnotations<'a> {
    /// [`ANN_WORKLOAD`].
    #[serde(borrow, default, rename = "placement.neardata.io/workload")]
    pub workload: Option<Cow<'a, str>>,
    /// [`ANN_WORKLOAD_ID`].
    #[serde(borrow, default, rename = "placement.neardata.io/workload-id")]
    pub workload_id: Option<Cow<'a, str>>,
    /// [`ANN_DATA_NODE`].
    #[serde(borrow, default, rename = "placement.neardata.io/data-node")]
    pub data_node: Option<Cow<'a, str>>,
    /// [`ANN_UTILISATION`].
    #[serde(borrow, default, rename = "placement.neardata.io/storage-utilisation")]
    pub storage_utilisation: Option<Cow<'a, str>>,
    /// [`ANN_WARM_HIT`].
    #[serde(borrow, default, rename = "placement.neardata.io/warm-hit")]
    pub warm_hit: Option<Cow<'a, str>>,
    /// [`ANN_DRAINED`].
    #[serde(borrow, default, rename = "placement.neardata.io/drained-per-wakeup")]
    pub drained_per_wakeup: Option<Cow<'a, str>>,
    /// [`ANN_REQUESTS_PER_SYSCALL`].
    #[serde(borrow, default, rename = "placement.neardata.io/requests-per-syscall")]
    pub requests_per_syscall: Option<Cow<'a, str>>,
    /// [`ANN_PEER_WAKEUPS`].
    #[serde(
        borrow,
        default,
        rename = "placement.neardata.io/peer-wakeups-per-request"
    )]
    pub peer_wakeups_per_request: Option<Cow<'a, str>>,
    /// [`ANN_OBJECTIVE`].
    #[serde(borrow, default, rename = "placement.neardata.io/objective")]
    pub objective: Option<Cow<'a, str>>,
}

/// `ObjectMeta` of a pod, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodMeta<'a> {
    /// Annotations.
    #[serde(borrow, default)]
    pub annotations: Option<PodAnnotations<'a>>,
}

/// `v1.Pod`, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Pod<'a> {
    /// Metadata.
    #[serde(borrow, default)]
    pub metadata: PodMeta<'a>,
}

/// The node labels the service reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeLabels<'a> {
    /// [`LABEL_ROLE`].
    #[serde(borrow, default, rename = "placement.neardata.io/role")]
    pub role: Option<Cow<'a, str>>,
}

/// The node annotations the service reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeAnnotations<'a> {
    /// [`ANN_FREE_CORES`].
    #[serde(borrow, default, rename = "placement.neardata.io/free-cores")]
    pub free_cores: Option<Cow<'a, str>>,
}

/// `ObjectMeta` of a node, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeMeta<'a> {
    /// Name.
    #[serde(borrow, default)]
    pub name: Cow<'a, str>,
    /// Labels.
    #[serde(borrow, default)]
    pub labels: Option<NodeLabels<'a>>,
    /// Annotations.
    #[serde(borrow, default)]
    pub annotations: Option<NodeAnnotations<'a>>,
}

/// `status.allocatable`, the resource read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Allocatable {
    /// CPU quantity (`4`, `3500m`).
    #[serde(default)]
    pub cpu: Option<Value>,
}

/// `v1.NodeStatus`, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeStatus {
    /// Allocatable resources.
    #[serde(default)]
    pub allocatable: Option<Allocatable>,
}

/// `v1.Node`, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Node<'a> {
    /// Metadata.
    #[serde(borrow, default)]
    pub metadata: NodeMeta<'a>,
    /// Status.
    #[serde(default)]
    pub status: NodeStatus,
}

/// `v1.NodeList` with items of type `N`.
#[derive(Debug, Deserialize, Serialize)]
pub struct NodeList<N> {
    /// The nodes.
    #[serde(default = "Vec::new")]
    pub items: Vec<N>,
}

/// `ExtenderArgs` with node items of type `N`.
#[derive(Debug, Deserialize)]
pub struct ExtenderArgs<'a, N> {
    /// The pod being scheduled.
    #[serde(borrow, default)]
    pub pod: Option<Pod<'a>>,
    /// Candidate nodes (`nodeCacheCapable: false`).
    #[serde(default = "Option::default")]
    pub nodes: Option<NodeList<N>>,
    /// Candidate node names (`nodeCacheCapable: true`).
    #[serde(borrow, default)]
    pub nodenames: Option<Vec<Cow<'a, str>>>,
}

/// `ExtenderFilterResult`.
#[derive(Debug, Default, Serialize)]
pub struct ExtenderFilterResult<'a> {
    /// Nodes that passed (when the request gave nodes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeList<&'a RawValue>>,
    /// Names of the nodes that passed (when the request gave names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodenames: Option<Vec<String>>,
    /// Nodes that failed and might fit after preemption, with the reason.
    #[serde(rename = "failedNodes")]
    pub failed_nodes: BTreeMap<String, String>,
    /// Nodes that failed for good, with the reason.
    #[serde(rename = "failedAndUnresolvableNodes")]
    pub failed_and_unresolvable_nodes: BTreeMap<String, String>,
    /// Error, if any (the service answers errors with HTTP 400 instead).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `HostPriority`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPriority {
    /// Node name.
    pub host: String,
    /// Score in `0..=10`.
    pub score: i64,
}
