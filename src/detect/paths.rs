//! Whose code a path is: the user's own, or code they did not write (the standard
//! library, installed packages, virtualenvs, vendored copies, build output, frames
//! a runtime makes up). Used to pick the innermost frame that names the user's bug
//! and to keep third-party files out of the list a fix prompt starts from.

use regex::Regex;
use std::sync::OnceLock;

/// True for paths the user did not write: runtimes and standard libraries
/// (`node:`, `<frozen os>`, `/rustc/`, Go's `src/`), installed packages
/// (`site-packages`, `node_modules`, the Cargo registry, Go's module cache),
/// virtualenvs, `vendor/`, and build output (`target/`, `dist/`, `build/`, `.next/`).
/// Workspace-relative and absolute paths, `/` or `\` separated.
pub fn is_third_party(path: &str) -> bool {
    static DIRS: OnceLock<Regex> = OnceLock::new();
    let dirs = DIRS.get_or_init(|| {
        Regex::new(
            r"(?:^|[/\\])(?:node_modules|site-packages|dist-packages|\.?venv|virtualenvs|\.tox|\.nox|__pypackages__|vendor|bower_components|target|dist|build|\.next|\.nuxt|\.svelte-kit|\.output|out|__pycache__|\.cargo[/\\]registry|pkg[/\\]mod|libexec[/\\]src|go-[\d.]+[/\\]src|lib[/\\]python[\d.]*)(?:[/\\]|$)",
        )
        .expect("built-in pattern compiles")
    });
    path.starts_with("node:")
        || path.starts_with('<') // <frozen os>, <string>, <anonymous>
        || path.starts_with("/rustc/")
        || path.contains("/go/src/")
        || path.starts_with("java.")
        || path.starts_with("java.base/")
        || path.starts_with("jdk.")
        || path.starts_with("sun.")
        || path == "[internal function]"
        || dirs.is_match(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_party_paths() {
        for p in [
            ".venv/lib/python3.12/site-packages/django/core/handlers/exception.py",
            "venv/lib/python3.11/site-packages/flask/app.py",
            "/usr/lib/python3.11/importlib/__init__.py",
            "/root/.pyenv/versions/3.11.7/lib/python3.11/subprocess.py",
            "<frozen importlib._bootstrap>",
            "node_modules/fastify/lib/handle-request.js",
            "node:internal/modules/cjs/loader",
            "vendor/github.com/pkg/errors/errors.go",
            "/home/me/go/pkg/mod/go.uber.org/zap@v1.27.0/logger.go",
            "/usr/lib/go-1.19/src/net/http/server.go",
            "target/debug/build/foo/out/bindings.rs",
            "dist/assets/index-3f2a.js",
            "build/lib/app.py",
            ".next/server/app/page.js",
            "/rustc/59807616e1fa/library/core/src/panicking.rs",
            "C:\\app\\node_modules\\x\\index.js",
        ] {
            assert!(is_third_party(p), "{p}");
        }
    }

    #[test]
    fn user_paths() {
        for p in [
            "app.py",
            "shop/urls.py",
            "/home/dev/shop/views.py",
            "src/components/Cart.tsx",
            "src/build_info.rs",
            "lib/router.js",
            "cmd/server/main.go",
            "tests/test_calc.py",
            "distance.py",
            "targets/x.c",
        ] {
            assert!(!is_third_party(p), "{p}");
        }
    }
}
