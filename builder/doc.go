// Package builder is the room for everything that turns an image spec into
// a pushed image; it holds no code itself. Its packages, each owning one
// thing and importing only what is listed before it:
//
//   - message: texts for people, as a translatable format and arguments,
//     with the frozen codes the API gives them.
//   - disk: free space of a file system and the bytes under a directory.
//   - logs: one timestamped log file per job, its tail and its live feed
//     (logs/logstest: tests wait for log text as it is written).
//   - spec: spec validation (APT, PEP 508, conda match specs, names,
//     bounds), package sources and the Containerfile a spec builds.
//   - registry: the embedded registry, the push Target type, what a base
//     image offers (BaseInfo), and the one client that checks a registry.
//   - inventory: what an image holds (package readers, diffs, pinning,
//     SPDX and CycloneDX).
//   - executor: the interface the queue runs builds through, with its
//     typed errors (each knows its db/failure) and what an executor's
//     store and caches report.
//   - registry/images: the client for images already in a registry
//     (resolve a reference, retag, size, read layers for the inventory,
//     say what a base image offers), with no image store and no
//     privileges: reuse, alias tags, base checks and inventories use it
//     whatever the executor is.
//   - plan: what one build builds beyond its spec (the APT steps it keeps,
//     whether steps wait for their limits), from the executor's
//     Capabilities; the queue and the form's preview use it.
//   - settings: the push registry and pull secrets administrators save.
//   - engine: the in-process Buildah executor and its leftovers clean-up.
//   - diagnosis: which failure a build's error and last log lines mean (a
//     pure function with its table).
//   - metrics: the Prometheus metrics of builds and the queue.
//   - webhooks: deliveries of a job's end to other systems.
//   - housekeeping: retention of jobs, logs and images.
//   - queue: the job queue (claim, run, recover, cancel), which tells the
//     rest of the product through one Hooks interface, and one file per
//     operation on a spec's revisions.
//   - kube: the Kubernetes executor (a Job per build), the worker mode its
//     pods run, kube/deploy (manifests for the portal in a cluster) and
//     kube/kubetest (a real single-node cluster for the tests).
//
// No package here serves the portal's pages or API; only db (with
// db/failure, the one failure type every boundary carries, and
// db/imagespec, the spec record) is imported from outside the room.
// Only main and kube (its worker mode) import engine.
package builder
