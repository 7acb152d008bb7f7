//! [`Ranker`]: a candidate set that owns its buffers, the short way in.

use costmodel::{Model, Objective, Placement};

use super::{Candidates, ClusterState, Job, RankBuffers, Ranking};
use crate::error::Result;

/// A prepared candidate set with its own [`RankBuffers`]: what an embedder needs to rank
/// invocations, in one value. [`Ranker::rank`] is [`Candidates::rank`] into the owned buffers,
/// so it allocates nothing per call either; keep [`Candidates`] and [`RankBuffers`] apart when
/// one set of buffers should serve several candidate sets.
///
/// ```
/// # use costmodel::{HostProfile, Model, NodeId, WorkloadSet};
/// # use solver::{ClusterState, Job, Pushback, Ranker};
/// # let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
/// # let model = Model::from_profile(HostProfile::load(root.join("hosts/reference.ron"))?)?;
/// # let job = Job::from_profile(&WorkloadSet::load(root.join("workloads/graph-lookup.ron"))?.workloads[0])?;
/// let mut ranker = Ranker::new(&model, &model.default_candidates())?;
/// let free_cores = [4.0];
/// for rho in [0.0, 0.5, 0.9] {
///     let state = ClusterState::new(&free_cores, NodeId(0))?.with_utilisation(rho)?;
///     let ranking = ranker.rank(&job, &state, &Pushback::default())?;
///     assert_eq!(ranking.len(), ranker.candidates().len());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Ranker {
    candidates: Candidates,
    buf: RankBuffers,
}

impl Ranker {
    /// Resolves `placements` against `model` ([`Candidates::prepare`]) and sizes the buffers
    /// for them.
    ///
    /// # Errors
    /// As [`Candidates::prepare`].
    pub fn new(model: &Model, placements: &[Placement]) -> Result<Self> {
        Ok(Ranker::from(Candidates::prepare(model, placements)?))
    }

    /// Ranks the candidates for `job` under `state` by `objective` ([`Candidates::rank`]).
    ///
    /// # Errors
    /// As [`Candidates::rank`] (the buffers are always large enough).
    #[inline]
    pub fn rank<O: Objective + ?Sized>(
        &mut self,
        job: &Job,
        state: &ClusterState<'_>,
        objective: &O,
    ) -> Result<Ranking<'_>> {
        self.candidates.rank(job, state, objective, &mut self.buf)
    }

    /// The prepared candidates.
    pub fn candidates(&self) -> &Candidates {
        &self.candidates
    }
}

impl From<Candidates> for Ranker {
    /// The candidates with buffers sized for them.
    fn from(candidates: Candidates) -> Self {
        let buf = RankBuffers::for_candidates(&candidates);
        Ranker { candidates, buf }
    }
}
