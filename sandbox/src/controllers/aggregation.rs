//! The clusterrole-aggregation controller: an aggregated ClusterRole's `rules` are kept equal
//! to the rules of the ClusterRoles its `aggregationRule` selects, so `kubectl get clusterrole
//! admin -o yaml` shows what it grants. (The authorizer computes the same rules when it reads
//! the role, so a grant never waits for this controller.)

use super::*;
use crate::rbac::{CLUSTER_ROLES, Rule, aggregated_rules};

impl Controllers {
    pub(super) fn aggregate_cluster_roles(&self) {
        let all = self.store().list(CLUSTER_ROLES, None).0;
        for role in all.iter().filter(|r| r["aggregationRule"].is_object()) {
            let rules = aggregated_rules(&all, role, &mut Vec::new());
            if Rule::all_of(role) != rules || !role["rules"].is_array() {
                let rules = serde_json::to_value(&rules).unwrap_or_else(|_| json!([]));
                self.set_field(CLUSTER_ROLES, "", name_of(role), |c| {
                    c["rules"] = rules.clone()
                });
            }
        }
    }
}
