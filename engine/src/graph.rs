//! The dependency graph of a list of steps: explicit `needs` plus the data edges from outputs a step
//! uses. Gives topological order, layers (steps that can run side by side) and cycles.

use petgraph::graph::{DiGraph, NodeIndex};

/// Dependencies between the steps of one list (`steps` or `finally`), by index into that list.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    deps: Vec<Vec<usize>>,
    dependants: Vec<Vec<usize>>,
    order: Vec<usize>,
    layer: Vec<usize>,
    layers: Vec<Vec<usize>>,
}

impl Graph {
    /// Builds the graph from each step's direct dependencies. `Err` holds every cycle, each as
    /// the list of step indexes around it, following `needs` (`a` needs `b` needs `a`).
    pub fn build(deps: Vec<Vec<usize>>) -> Result<Graph, Vec<Vec<usize>>> {
        let n = deps.len();
        let mut g = DiGraph::<(), ()>::with_capacity(n, deps.iter().map(Vec::len).sum());
        for _ in 0..n {
            g.add_node(());
        }
        let mut dependants = vec![Vec::new(); n];
        for (step, ds) in deps.iter().enumerate() {
            for &d in ds {
                g.add_edge(NodeIndex::new(step), NodeIndex::new(d), ());
                dependants[d].push(step);
            }
        }
        if petgraph::algo::is_cyclic_directed(&g) {
            return Err(cycles(&g));
        }
        // Kahn's algorithm in file order, so ties keep the order the author wrote.
        let mut missing: Vec<usize> = deps.iter().map(Vec::len).collect();
        let mut layer = vec![0usize; n];
        let mut visited = 0usize;
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
            .filter(|&i| missing[i] == 0)
            .map(std::cmp::Reverse)
            .collect();
        while let Some(std::cmp::Reverse(i)) = ready.pop() {
            visited += 1;
            for &j in &dependants[i] {
                layer[j] = layer[j].max(layer[i] + 1);
                missing[j] -= 1;
                if missing[j] == 0 {
                    ready.push(std::cmp::Reverse(j));
                }
            }
        }
        debug_assert_eq!(visited, n, "an acyclic graph visits every step");
        let depth = layer.iter().max().map_or(0, |m| m + 1);
        let mut layers = vec![Vec::new(); if n == 0 { 0 } else { depth }];
        for i in 0..n {
            layers[layer[i]].push(i);
        }
        // Layer by layer, file order within a layer: a topological order that reads like the plan.
        let order = layers.concat();
        Ok(Graph {
            deps,
            dependants,
            order,
            layer,
            layers,
        })
    }

    /// Direct dependencies of step `i`, explicit and implicit.
    pub fn deps(&self, i: usize) -> &[usize] {
        &self.deps[i]
    }

    /// Steps that depend directly on step `i`.
    pub(crate) fn dependants(&self, i: usize) -> &[usize] {
        &self.dependants[i]
    }

    /// Every step, each after all its dependencies (file order among equals).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The layer of step `i`: 0 for steps with no dependencies, else one more than its deepest dependency.
    pub fn layer(&self, i: usize) -> usize {
        self.layer[i]
    }

    /// Steps grouped by layer; steps of one layer may run side by side.
    pub fn layers(&self) -> &[Vec<usize>] {
        &self.layers
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.deps.len()
    }

    /// True when there are no steps.
    pub fn is_empty(&self) -> bool {
        self.deps.is_empty()
    }

    /// Step `i` and everything that depends on it, directly or not.
    pub fn downstream(&self, i: usize) -> Vec<usize> {
        self.closure(i, &self.dependants)
    }

    /// Step `i` and everything it depends on, directly or not.
    pub fn upstream(&self, i: usize) -> Vec<usize> {
        self.closure(i, &self.deps)
    }

    fn closure(&self, i: usize, edges: &[Vec<usize>]) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = vec![i];
        let mut out = Vec::new();
        while let Some(s) = stack.pop() {
            if std::mem::replace(&mut seen[s], true) {
                continue;
            }
            out.push(s);
            stack.extend(&edges[s]);
        }
        out.sort_unstable();
        out
    }
}

/// One cycle per strongly connected component that has one, as a closed walk of indexes.
fn cycles(g: &DiGraph<(), ()>) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for scc in petgraph::algo::tarjan_scc(g) {
        let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let members: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
        let start = *scc.iter().min().expect("non-empty component");
        // Walk from the first step until a node repeats; the tail from that node is a cycle.
        let mut path = vec![start];
        let mut pos = std::collections::HashMap::from([(start, 0usize)]);
        let mut node = start;
        loop {
            let next = g
                .neighbors(node)
                .filter(|n| members.contains(n))
                .min()
                .expect("every member of a cycle has a successor in it");
            if let Some(&at) = pos.get(&next) {
                let mut cycle: Vec<usize> = path[at..].iter().map(|n| n.index()).collect();
                cycle.push(next.index());
                out.push(cycle);
                break;
            }
            pos.insert(next, path.len());
            path.push(next);
            node = next;
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_the_longest_path() {
        // 0 <- 1 <- 3, 0 <- 2, 4 alone
        let g = Graph::build(vec![vec![], vec![0], vec![0], vec![1, 2], vec![]]).unwrap();
        assert_eq!(g.layers(), &[vec![0, 4], vec![1, 2], vec![3]]);
        assert_eq!(g.order(), &[0, 4, 1, 2, 3]);
        assert_eq!(g.downstream(1), vec![1, 3]);
        assert_eq!(g.upstream(3), vec![0, 1, 2, 3]);
    }

    #[test]
    fn reports_each_cycle_as_a_closed_walk() {
        let err = Graph::build(vec![vec![1], vec![2], vec![0], vec![3]]).unwrap_err();
        assert_eq!(err, vec![vec![0, 1, 2, 0], vec![3, 3]]);
    }
}
