//! [`ClusterCli`]: the `cactus` binary against a node of a [`Cluster`], with the cluster's
//! genesis file and a folder for the key files the tests write (the cluster's keys live in
//! memory).

use crate::cluster::Cluster;
use crate::node::{COMMAND_TIMEOUT, CactusRun, cactus_at, run_cactus};
use couponcactus_genesis::KeyFile;
use ed25519_dalek::SigningKey;
use std::path::PathBuf;

/// `cactus --genesis GENESIS …` against one node, run in the key folder.
#[derive(Clone, Debug)]
pub struct ClusterCli {
    /// The node's URL (`CACTUS_NODE`).
    pub node: String,
    /// The cluster's genesis file.
    pub genesis: PathBuf,
    /// Where key files are written, and the folder commands run in.
    pub keys: PathBuf,
}

impl ClusterCli {
    /// The CLI against node 1 of `cluster`, with the key folder `<cluster>/cli-keys`.
    pub fn for_cluster(cluster: &Cluster) -> ClusterCli {
        let keys = cluster.dir().join("cli-keys");
        std::fs::create_dir_all(&keys).expect("creating the key folder");
        ClusterCli {
            node: cluster.node(1).url(),
            genesis: cluster.dir().join("genesis.toml"),
            keys,
        }
    }

    /// The same CLI against the node at `url`.
    pub fn on(&self, url: String) -> ClusterCli {
        ClusterCli {
            node: url,
            ..self.clone()
        }
    }

    /// Runs `cactus ARGS` (`CACTUS_KEY`, `CACTUS_GENESIS` and `CACTUS_MEMBER_SECRET`
    /// unset, no colours), for at most [`COMMAND_TIMEOUT`].
    pub fn run(&self, args: &[&str]) -> CactusRun {
        let mut command = cactus_at(&self.node);
        command
            .arg("--genesis")
            .arg(&self.genesis)
            .args(args)
            .current_dir(&self.keys);
        run_cactus(command, COMMAND_TIMEOUT)
    }

    /// `--json ARGS`, which must succeed; its output.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.run(&all).ok().json()
    }

    /// Writes `key` as the key file `name` in the key folder; its path.
    pub fn key_file(&self, name: &str, key: &SigningKey) -> String {
        let path = self.keys.join(name);
        KeyFile::from_seed(key.to_bytes())
            .save(&path)
            .expect("writing a key file");
        path.to_str().expect("UTF-8 temp paths").to_string()
    }
}
