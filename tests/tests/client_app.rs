//! The browser app as the server serves it: `index.html` for every app route and never
//! cached; hashed assets cached for a year and served precompressed; a clear 503 when the app
//! is not built; the API's 404s stay JSON.

use manifesto_tests::TestServer;

/// A build like Vite's: `index.html` and hashed assets with their `.gz` and `.br` twins.
fn fake_build(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>app</title>").unwrap();
    std::fs::write(dir.join("assets/app-abc123.js"), "console.log('plain')").unwrap();
    std::fs::write(dir.join("assets/app-abc123.js.gz"), "gzip twin").unwrap();
    std::fs::write(dir.join("assets/app-abc123.js.br"), "brotli twin").unwrap();
}

async fn get(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut request = client.get(server.http_url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap_or_default())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn the_app_and_its_assets_are_served_with_the_right_cache_rules() {
    let data = tempfile::tempdir().unwrap();
    let build = tempfile::tempdir().unwrap();
    fake_build(build.path());
    let dist = build.path().to_path_buf();
    let server = TestServer::start_with(data.path(), |c| c.client_dir = dist).await;
    let html = [("accept", "text/html,application/xhtml+xml")];

    for path in [
        "/",
        "/login",
        "/invite",
        "/documents/demo-en",
        "/admin/members",
    ] {
        let (status, headers, body) = get(&server, path, &html).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, "<!doctype html><title>app</title>", "{path}");
        assert_eq!(header(&headers, "cache-control"), "no-cache", "{path}");
        assert!(header(&headers, "content-type").starts_with("text/html"));
    }

    // Hashed assets: long-lived, and the compressed twin the browser accepts.
    let (status, headers, body) = get(
        &server,
        "/assets/app-abc123.js",
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, "brotli twin");
    assert_eq!(header(&headers, "content-encoding"), "br");
    assert_eq!(
        header(&headers, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(header(&headers, "content-type").contains("javascript"));
    let (_, headers, body) = get(
        &server,
        "/assets/app-abc123.js",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(
        (header(&headers, "content-encoding"), body.as_str()),
        ("gzip", "gzip twin")
    );
    let (_, headers, body) = get(&server, "/assets/app-abc123.js", &[]).await;
    assert_eq!(body, "console.log('plain')");
    assert_eq!(header(&headers, "content-encoding"), "");

    // What is not there is a JSON 404, never the app.
    for path in [
        "/assets/missing-1.js",
        "/api/nothing",
        "/favicon.ico",
        "/assets/../index.html",
    ] {
        let (status, _, body) = get(&server, path, &html).await;
        assert_eq!(status, 404, "{path}");
        assert!(body.contains("\"not_found\""), "{path}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn without_a_build_the_pages_say_how_to_build_it() {
    let data = tempfile::tempdir().unwrap();
    let nowhere = data.path().join("no-build-here");
    let server = TestServer::start_with(data.path(), |c| c.client_dir = nowhere).await;
    let (status, headers, body) = get(&server, "/", &[("accept", "text/html")]).await;
    assert_eq!(status, 503);
    assert!(body.contains("client_not_built"), "{body}");
    assert!(body.contains("npm run build"), "{body}");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    // The API still works.
    let (status, _, _) = get(&server, "/healthz", &[]).await;
    assert_eq!(status, 200);
    server.stop().await;
}

/// The browser app's wire types are generated (`npm run gen:api`, openapi-typescript) from
/// `client/src/api/openapi.json`; this keeps that file equal to what the server serves, so a
/// change to the API that the app has not taken in fails here. `UPDATE_CLIENT_API=1` rewrites it.
#[tokio::test]
async fn the_clients_copy_of_the_api_description_is_the_servers() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let (status, _, body) = get(&server, "/api/openapi.json", &[]).await;
    assert_eq!(status, 200);
    let live: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pretty = serde_json::to_string_pretty(&live).unwrap() + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/src/api/openapi.json");
    if std::env::var_os("UPDATE_CLIENT_API").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let copy = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        copy == pretty,
        "client/src/api/openapi.json differs from the server's API description: run \
         `UPDATE_CLIENT_API=1 cargo test -p manifesto-tests --test client_app` and then \
         `npm run typecheck` in client/ to see what the app must change"
    );
    server.stop().await;
}
