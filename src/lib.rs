//! flink-lifecycle: an admission webhook and a lightweight reconciler that manage the production
//! lifecycle of Apache Flink jobs on Kubernetes, with the `flink.apache.org/v1beta1` API of the
//! Apache Flink Kubernetes Operator.
//!
//! Functional core, imperative shell: [`api`] holds the wire types, [`config`] the operator
//! configuration; validation, mutation and the lifecycle planner are pure functions over them.

pub mod admin;
pub mod api;
pub mod certs;
pub mod cli;
pub mod config;
pub mod controller;
pub mod crd;
pub mod flink;
pub mod lifecycle;
pub mod offline;
pub mod process;
pub mod rbac;
pub mod render;
pub mod run;
pub mod selfsigned;
pub mod tls;
pub mod validation;
pub mod webhook;
