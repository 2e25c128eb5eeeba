#!/usr/bin/env bash
# Rehearsal stand-in for istio-mesh-expansion-gce/gce-script-tmpl.sh (from the istio-multicluster-gke
# repository). envsubst fills in GWIP, the address the VM reaches istiod at. The real script also
# downloads Istio's sidecar package (istio-sidecar.deb) and Docker's; the simulated VM has no
# network, so this one installs docker.io with apt-get and starts the `istio` unit directly.
set -euo pipefail
echo "${GWIP} istiod.istio-system.svc" | sudo tee -a /etc/hosts
sudo mkdir -p /etc/certs /var/lib/istio/envoy
sudo cp {root-cert.pem,cert-chain.pem,key.pem} /etc/certs/
sudo cp cluster.env /var/lib/istio/envoy/
sudo systemctl start istio
sudo apt-get update -qq
sudo apt-get install -y docker.io
sudo docker run -d --name productcatalogservice -p 3550:3550 gcr.io/google-samples/microservices-demo/productcatalogservice:v0.2.0
