//! The candidate nodes of a request, resolved: from full Node objects or from names looked up
//! in the nodes given at start (`--nodes`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::kube_objects::{ANN_FREE_CORES, LABEL_ROLE, Node};

/// A node the service knows from `--nodes`, for `nodenames` requests.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownNode {
    /// Node name.
    pub name: String,
    /// `storage` or `compute`.
    pub role: Role,
    /// Free CPU, cores.
    pub free_cores: f64,
}

/// What a node is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs a storage server.
    Storage,
    /// Runs functions that fetch over the network.
    Compute,
}

/// One candidate node, resolved.
#[derive(Clone, Debug)]
pub struct NodeView {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Free CPU, cores.
    pub free_cores: f64,
}

/// Parses a quantity of CPU (`4`, `2.5`, `3500m`) into cores.
fn cpu_quantity(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => match s.strip_suffix('m') {
            Some(milli) => milli.parse::<f64>().ok()? / 1000.0,
            None => s.parse::<f64>().ok()?,
        },
        _ => return None,
    };
    (x.is_finite() && x >= 0.0).then_some(x)
}

impl NodeView {
    /// Reads a node object (`at` is its path in the request).
    ///
    /// # Errors
    /// [`ApiError`] naming the label, annotation or field.
    pub fn from_node(n: &Node<'_>, at: &str) -> Result<Self, ApiError> {
        let name = &n.metadata.name;
        if name.is_empty() {
            return Err(ApiError::bad(format!("{at}.metadata.name"), "missing"));
        }
        let role = match n.metadata.labels.as_ref().and_then(|l| l.role.as_deref()) {
            None | Some("compute") => Role::Compute,
            Some("storage") => Role::Storage,
            Some(r) => {
                return Err(ApiError::bad(
                    format!("{at}.metadata.labels[{LABEL_ROLE}]"),
                    format!("must be storage or compute, got {r:?}"),
                ));
            }
        };
        let ann = n
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.free_cores.as_deref());
        let free_cores = match ann {
            Some(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| {
                    ApiError::bad(
                        format!("{at}.metadata.annotations[{ANN_FREE_CORES}]"),
                        format!("must be a finite number of cores >= 0, got {s:?}"),
                    )
                })?,
            None => {
                let q = n.status.allocatable.as_ref().and_then(|a| a.cpu.as_ref());
                let field = format!("{at}.status.allocatable.cpu");
                match q {
                    None => {
                        return Err(ApiError::bad(
                            field,
                            format!("missing (and no {ANN_FREE_CORES} annotation)"),
                        ));
                    }
                    Some(v) => cpu_quantity(v).ok_or_else(|| {
                        ApiError::bad(
                            field,
                            format!("must be a cpu quantity like 4 or 3500m, got {v}"),
                        )
                    })?,
                }
            }
        };
        Ok(NodeView {
            name: name.to_string(),
            role,
            free_cores,
        })
    }
}

/// Resolves `nodenames` against the nodes given at start.
///
/// # Errors
/// [`ApiError`] naming `nodenames[i]` for a name the service does not know.
pub fn views_from_names(
    names: &[Cow<'_, str>],
    known: &[KnownNode],
) -> Result<Vec<NodeView>, ApiError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            known
                .iter()
                .find(|k| k.name == *name)
                .map(|k| NodeView {
                    name: k.name.clone(),
                    role: k.role,
                    free_cores: k.free_cores,
                })
                .ok_or_else(|| {
                    ApiError::bad(
                        format!("nodenames[{i}]"),
                        format!(
                            "unknown node {name:?}: the service knows {} nodes from --nodes; \
                             send full nodes (nodeCacheCapable: false) or list it there",
                            known.len()
                        ),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_parse_in_cores() {
        assert_eq!(cpu_quantity(&Value::String("3500m".into())), Some(3.5));
        assert_eq!(cpu_quantity(&Value::String("4".into())), Some(4.0));
        assert_eq!(cpu_quantity(&Value::String("-1".into())), None);
        assert_eq!(cpu_quantity(&Value::String("lots".into())), None);
    }
}
