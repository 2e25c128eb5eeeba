//! Simulated Kubernetes clusters that speak the real API.
