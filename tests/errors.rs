//! Errors a caller can match on (issue 14): each distinct cause is its own
//! variant of `leann::Error`, with the message it always had. Each test
//! provokes the cause for real and matches the variant and its fields.

mod common;

use leann::config::Config;
use leann::engine::index::Index;
use leann::io::{open_storage, Backend, Storage};
use leann::search::searcher::{QueryOptions, Searcher};
use leann::Error;
use std::path::Path;
use std::sync::Arc;

fn pread() -> Arc<dyn Storage> {
    open_storage(Backend::Pread).unwrap()
}

/// A small tree of two files and its index (built-in model).
fn tree_index(d: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let tree = d.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(
        tree.join("auth.py"),
        "def check_token(token):\n    \"\"\"Verify a JWT.\"\"\"\n    return token.startswith('ey')\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("area.rs"),
        "pub fn area(w: f64, h: f64) -> f64 {\n    w * h\n}\n",
    )
    .unwrap();
    let idx = d.join("idx");
    leann::ingest::tree::create_from_tree(
        pread().as_ref(),
        &tree,
        &idx,
        &Config::default(),
        &leann::embed::static_model::StaticModel::builtin().unwrap(),
        leann::embed::EmbedderSpec::Builtin,
        &|_| {},
    )
    .unwrap();
    (tree, idx)
}

#[test]
fn bad_arguments_are_argument_errors_naming_the_flag() {
    let d = common::tempdir();
    let (_tree, idx) = tree_index(d.path());
    let s = Searcher::open(pread(), &idx, None, None).unwrap();
    let mut ctx = Default::default();
    let mut query = |q: &str, o: QueryOptions| s.query(q, &o, &mut ctx).unwrap_err();
    let e = query(
        "token",
        QueryOptions {
            k: 0,
            ..Default::default()
        },
    );
    assert!(
        matches!(&e, Error::Argument { arg, .. } if arg == "--top-k"),
        "{e:?}"
    );
    assert!(e.to_string().contains("--top-k 0 is outside"), "{e}");
    let e = query(
        "token",
        QueryOptions {
            k: 3,
            semantic_ratio: Some(1.5),
            ..Default::default()
        },
    );
    assert!(
        matches!(&e, Error::Argument { arg, .. } if arg == "--semantic-ratio"),
        "{e:?}"
    );
    let e = query(
        "?!",
        QueryOptions {
            k: 3,
            ..Default::default()
        },
    );
    assert!(
        matches!(&e, Error::Argument { arg, .. } if arg == "query"),
        "{e:?}"
    );
    let e = "spinning-rust".parse::<Backend>().unwrap_err();
    assert!(
        matches!(&e, Error::Argument { arg, .. } if arg == "--io"),
        "{e:?}"
    );
    assert!(e.to_string().contains("unknown I/O backend"), "{e}");
}

#[test]
fn unusable_input_files_and_trees_are_input_errors_naming_the_path() {
    let d = common::tempdir();
    let rel = d.path().join("questions.jsonl");
    std::fs::write(&rel, "{\"id\": 1}\n").unwrap();
    let e = leann::search::eval::load(pread().as_ref(), &rel).unwrap_err();
    assert!(
        matches!(&e, Error::Input { path, .. } if path == &rel),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(":1: not a relevance question"),
        "{e}"
    );

    // A file where a tree is expected, and a tree with nothing to index.
    let file = d.path().join("plain.txt");
    std::fs::write(&file, "not a tree").unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for input in [&file, &empty] {
        let e = leann::ingest::tree::create_from_tree(
            pread().as_ref(),
            input,
            &d.path().join("out"),
            &Config::default(),
            &leann::embed::static_model::StaticModel::builtin().unwrap(),
            leann::embed::EmbedderSpec::Builtin,
            &|_| {},
        )
        .unwrap_err();
        let canon = std::fs::canonicalize(input).unwrap();
        assert!(
            matches!(&e, Error::Input { path, .. } if path == &canon),
            "{}: {e:?}",
            input.display()
        );
    }
    assert!(!d.path().join("out").exists());
}

#[test]
fn a_failing_git_is_a_git_error() {
    let d = common::tempdir();
    // A plain directory, not a repository: `git diff` fails.
    let e = leann::ingest::update::git_changes(d.path(), "HEAD~1", "HEAD").unwrap_err();
    match &e {
        Error::Git { root, why } => {
            assert_eq!(root, d.path());
            assert!(why.contains("failed"), "{why}");
        }
        // Only when this machine has no git at all.
        Error::Io { op: "run git", .. } => {}
        other => panic!("not a git error: {other:?}"),
    }
}

#[test]
fn a_directory_without_a_model_is_a_model_error() {
    let d = common::tempdir();
    let e = leann::embed::EmbedderSpec::parse(d.path().to_str().unwrap()).unwrap_err();
    assert!(matches!(&e, Error::Model { .. }), "{e:?}");
    assert!(e.to_string().contains("not a model directory"), "{e}");
}

#[test]
fn operations_the_index_cannot_do_are_precondition_errors() {
    let st = open_storage(Backend::Memory).unwrap();
    let dir = Path::new("/mem/bare");
    let v = common::clustered(200, 8, 2, 3);
    Index::create(st.as_ref(), dir, &v, None, &Config::default()).unwrap();
    // A bare-vector index holds no chunks to search by text.
    let e = match Searcher::open(st.clone(), dir, None, None) {
        Ok(_) => panic!("a bare-vector index opened as a tree index"),
        Err(e) => e,
    };
    assert!(matches!(&e, Error::Precondition { .. }), "{e:?}");
    assert!(e.to_string().contains("bare vectors"), "{e}");
    // A write without the writer lock.
    let mut idx = Index::open(st.as_ref(), dir, leann::io::ReadMode::Buffered, None).unwrap();
    let e = idx
        .write(&[leann::format::wal::Record::DeleteId { id: 1 }])
        .unwrap_err();
    assert!(matches!(&e, Error::Precondition { .. }), "{e:?}");
    assert!(e.to_string().contains("writer lock"), "{e}");
}

#[test]
fn sizes_a_format_cannot_hold_are_limit_errors() {
    let e = leann::format::graph::GraphMeta::new(0, 8, 32, false, 0, 0).unwrap_err();
    assert!(matches!(&e, Error::Limit { .. }), "{e:?}");
    let e = leann::format::graph::GraphMeta::new(10, 4096, 32, true, 0, 0).unwrap_err();
    assert!(matches!(&e, Error::Limit { .. }), "{e:?}");
    assert!(e.to_string().contains("does not fit"), "{e}");
}

/// With io_uring blocked (a seccomp filter answering EPERM to
/// io_uring_setup, as container runtimes do), `Backend::IoUring` is an
/// `IoBackend` error and `Backend::Auto` falls back to pread. The check
/// runs in a child process of this test binary so the filter stays there.
#[test]
fn blocked_io_uring_is_an_io_backend_error() {
    const CHILD: &str = "LEANN_TEST_IO_URING_BLOCKED";
    if std::env::var_os(CHILD).is_some() {
        block_io_uring();
        let e = match open_storage(Backend::IoUring) {
            Ok(_) => panic!("io_uring opened under a filter that blocks it"),
            Err(e) => e,
        };
        assert!(
            matches!(
                &e,
                Error::IoBackend {
                    backend: "io_uring",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("use --io pread"), "{e}");
        assert!(!leann::io::io_uring_available());
        let st = open_storage(Backend::Auto).unwrap();
        let d = common::tempdir();
        st.write_atomic(&d.path().join("f"), b"bytes").unwrap();
        assert_eq!(st.read_all(&d.path().join("f")).unwrap(), b"bytes");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "blocked_io_uring_is_an_io_backend_error",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("1 passed"), "{all}");
}

/// Install a seccomp filter on this thread: io_uring_setup (425 on every
/// architecture) fails with EPERM, every other call is allowed.
fn block_io_uring() {
    const IO_URING_SETUP: u32 = 425;
    let filter = [
        // A = seccomp_data.nr
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: IO_URING_SETUP,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with integer arguments; NO_NEW_PRIVS lets an
    // unprivileged process install a filter. `prog` and `filter` outlive the
    // call (the kernel copies the program).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}
