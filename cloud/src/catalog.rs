//! What the simulated cloud offers: regions and zones (with the default network's subnet ranges
//! Google gives them), machine types, public image families and Kubernetes Engine versions.

/// A region, its zone suffixes and the default network's auto-mode subnet range.
pub struct Region {
    /// `us-central1`.
    pub name: &'static str,
    /// `a`, `b`, ...: zones are `NAME-SUFFIX`.
    pub zones: &'static [&'static str],
    /// The default network's subnet in this region (auto mode assigns these fixed ranges).
    pub subnet: [u8; 3],
}

/// The regions served, with the subnet ranges of Google's auto-mode default network.
#[rustfmt::skip]
pub const REGIONS: &[Region] = &[
    Region { name: "asia-east1", zones: &["a", "b", "c"], subnet: [10, 140, 0] },
    Region { name: "asia-northeast1", zones: &["a", "b", "c"], subnet: [10, 146, 0] },
    Region { name: "asia-south1", zones: &["a", "b", "c"], subnet: [10, 160, 0] },
    Region { name: "asia-southeast1", zones: &["a", "b", "c"], subnet: [10, 148, 0] },
    Region { name: "australia-southeast1", zones: &["a", "b", "c"], subnet: [10, 152, 0] },
    Region { name: "europe-north1", zones: &["a", "b", "c"], subnet: [10, 166, 0] },
    Region { name: "europe-west1", zones: &["b", "c", "d"], subnet: [10, 132, 0] },
    Region { name: "europe-west2", zones: &["a", "b", "c"], subnet: [10, 154, 0] },
    Region { name: "europe-west3", zones: &["a", "b", "c"], subnet: [10, 156, 0] },
    Region { name: "europe-west4", zones: &["a", "b", "c"], subnet: [10, 164, 0] },
    Region { name: "northamerica-northeast1", zones: &["a", "b", "c"], subnet: [10, 162, 0] },
    Region { name: "southamerica-east1", zones: &["a", "b", "c"], subnet: [10, 158, 0] },
    Region { name: "us-central1", zones: &["a", "b", "c", "f"], subnet: [10, 128, 0] },
    Region { name: "us-east1", zones: &["b", "c", "d"], subnet: [10, 142, 0] },
    Region { name: "us-east4", zones: &["a", "b", "c"], subnet: [10, 150, 0] },
    Region { name: "us-west1", zones: &["a", "b", "c"], subnet: [10, 138, 0] },
    Region { name: "us-west2", zones: &["a", "b", "c"], subnet: [10, 168, 0] },
    Region { name: "us-west3", zones: &["a", "b", "c"], subnet: [10, 180, 0] },
    Region { name: "us-west4", zones: &["a", "b", "c"], subnet: [10, 182, 0] },
];

/// The region of a region name.
pub fn region(name: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.name == name)
}

/// The region of a zone name (`us-central1-a` → `us-central1`), when the zone exists.
pub fn zone_region(zone: &str) -> Option<&'static Region> {
    let (region_name, suffix) = zone.rsplit_once('-')?;
    region(region_name).filter(|r| r.zones.contains(&suffix))
}

/// Every zone name, region by region.
pub fn zones() -> impl Iterator<Item = (String, &'static Region)> {
    REGIONS
        .iter()
        .flat_map(|r| r.zones.iter().map(move |z| (format!("{}-{z}", r.name), r)))
}

/// A machine type: name, vCPUs, memory in MB.
pub type MachineType = (&'static str, u32, u32);

/// The machine types served in every zone.
pub const MACHINE_TYPES: &[MachineType] = &[
    ("e2-micro", 2, 1024),
    ("e2-small", 2, 2048),
    ("e2-medium", 2, 4096),
    ("e2-standard-2", 2, 8192),
    ("e2-standard-4", 4, 16384),
    ("e2-standard-8", 8, 32768),
    ("f1-micro", 1, 614),
    ("g1-small", 1, 1740),
    ("n1-standard-1", 1, 3840),
    ("n1-standard-2", 2, 7680),
    ("n1-standard-4", 4, 15360),
    ("n1-standard-8", 8, 30720),
    ("n2-standard-2", 2, 8192),
    ("n2-standard-4", 4, 16384),
    ("n2-standard-8", 8, 32768),
];

/// The machine type called `name`.
pub fn machine_type(name: &str) -> Option<&'static MachineType> {
    MACHINE_TYPES.iter().find(|m| m.0 == name)
}

/// A public image: project, family, image name, and whether the family is retired today
/// (kept so runbooks of that era rehearse; see docs/sandbox.md).
pub struct Image {
    /// `ubuntu-os-cloud`.
    pub project: &'static str,
    /// `ubuntu-2204-lts`.
    pub family: &'static str,
    /// The newest image of the family.
    pub name: &'static str,
    /// Retired families are served with a DEPRECATED notice.
    pub retired: bool,
}

/// The public image families served.
#[rustfmt::skip]
pub const IMAGES: &[Image] = &[
    Image { project: "debian-cloud", family: "debian-9", name: "debian-9-stretch-v20200805", retired: true },
    Image { project: "debian-cloud", family: "debian-10", name: "debian-10-buster-v20240611", retired: true },
    Image { project: "debian-cloud", family: "debian-11", name: "debian-11-bullseye-v20250610", retired: false },
    Image { project: "debian-cloud", family: "debian-12", name: "debian-12-bookworm-v20250610", retired: false },
    Image { project: "ubuntu-os-cloud", family: "ubuntu-1604-lts", name: "ubuntu-1604-xenial-v20210429", retired: true },
    Image { project: "ubuntu-os-cloud", family: "ubuntu-1804-lts", name: "ubuntu-1804-bionic-v20230605", retired: true },
    Image { project: "ubuntu-os-cloud", family: "ubuntu-2004-lts", name: "ubuntu-2004-focal-v20250606", retired: false },
    Image { project: "ubuntu-os-cloud", family: "ubuntu-2204-lts", name: "ubuntu-2204-jammy-v20250606", retired: false },
    Image { project: "ubuntu-os-cloud", family: "ubuntu-2404-lts-amd64", name: "ubuntu-2404-noble-amd64-v20250606", retired: false },
    Image { project: "cos-cloud", family: "cos-stable", name: "cos-stable-121-18867-90-38", retired: false },
    Image { project: "centos-cloud", family: "centos-7", name: "centos-7-v20240611", retired: true },
    Image { project: "rocky-linux-cloud", family: "rocky-linux-9", name: "rocky-linux-9-v20250610", retired: false },
];

/// One Kubernetes Engine version per minor (and the tutorials' own where they name one), newest
/// first, in GKE's `MAJOR.MINOR.PATCH-gke.N` form: the minors the sandbox simulates.
pub const GKE_VERSIONS: &[&str] = &[
    "1.33.2-gke.1111000",
    "1.32.6-gke.1060000",
    "1.31.11-gke.1002000",
    "1.30.14-gke.1079000",
    "1.29.15-gke.1218000",
    "1.28.15-gke.2403000",
    "1.27.16-gke.2703000",
    "1.26.15-gke.1469000",
    "1.25.16-gke.1537000",
    "1.24.17-gke.2472000",
    "1.23.17-gke.10000",
    "1.22.17-gke.14100",
    "1.21.14-gke.18800",
    "1.20.15-gke.13700",
    "1.19.16-gke.15700",
    "1.18.20-gke.6101",
    "1.17.17-gke.9100",
    "1.16.15-gke.14800",
    "1.15.12-gke.6002",
    "1.14.10-gke.50",
    "1.13.12-gke.30",
    "1.12.10-gke.22",
    "1.11.10-gke.6",
    "1.10.12-gke.14",
    "1.9.7-gke.11",
    "1.9.6-gke.1",
];

/// The version new clusters get when none is asked for (GKE's default trails the newest minor).
pub const DEFAULT_GKE_VERSION: &str = "1.32.6-gke.1060000";

/// The node image types GKE offers.
pub const IMAGE_TYPES: &[&str] = &[
    "COS_CONTAINERD",
    "COS",
    "UBUNTU_CONTAINERD",
    "UBUNTU",
    "WINDOWS_LTSC_CONTAINERD",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_belong_to_their_region() {
        assert_eq!(zone_region("us-east1-b").map(|r| r.name), Some("us-east1"));
        assert!(
            zone_region("us-east1-a").is_none(),
            "us-east1 has no zone a"
        );
        assert!(zone_region("mars-north1-a").is_none());
        assert!(zones().any(|(z, _)| z == "us-west2-a"));
    }

    #[test]
    fn the_default_version_is_offered() {
        assert!(GKE_VERSIONS.contains(&DEFAULT_GKE_VERSION));
    }
}
