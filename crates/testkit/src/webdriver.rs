//! A minimal W3C WebDriver client for headless Chromium through `chromedriver`
//! (Debian's `chromium` and `chromium-driver`), enough for console tests.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::process::{Process, Spawn};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; call [`Browser::close`] at the end.
pub struct Browser {
    _driver: Process,
    http: reqwest::Client,
    session: String,
}

/// chromedriver's ready line, which (since version 128) names the port it bound.
const STARTED: &str = "started successfully";

/// The port in the last "ChromeDriver was started successfully on port N." of `log`.
fn read_port(log: &Path) -> anyhow::Result<u16> {
    crate::process::logged_port(log, "started successfully on port ", "chromedriver")
        .context("chromedriver did not say which port it bound (needs version 128 or later)")
}

fn program(names: &[&str]) -> anyhow::Result<std::path::PathBuf> {
    names
        .iter()
        .map(|n| Path::new("/usr/bin").join(n))
        .find(|p| p.exists())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} not found: apt-get install chromium chromium-driver (.ci/run does)",
                names.join(" or ")
            )
        })
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (1400x1000).
    pub async fn start(log_dir: &Path) -> anyhow::Result<Self> {
        let driver_bin = program(&["chromedriver"])?;
        let chromium = program(&["chromium", "chromium-browser"])?;
        // Port 0: chromedriver binds a free port and names it, so no port is
        // chosen first and released for another process to take.
        let driver = Process::spawn(Spawn {
            name: "chromedriver",
            program: &driver_bin,
            args: vec!["--port=0".into(), "--allowed-ips=127.0.0.1".into()],
            env: vec![],
            log_dir,
            listeners: &[],
            ready_marker: Some(STARTED),
        })
        .await?;
        let port = read_port(driver.log_path())?;
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1000", "--force-device-scale-factor=1"]
            }
        }}});
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await?
            .json()
            .await?;
        let session = response["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no WebDriver session: {response}"))?;
        Ok(Self {
            _driver: driver,
            http,
            session: format!("{base}/session/{session}"),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await?.json().await?;
        if let Some(error) = response["value"]["error"].as_str() {
            anyhow::bail!(
                "WebDriver {path}: {error}: {}",
                response["value"]["message"]
            );
        }
        Ok(response["value"].clone())
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(drop)
    }

    /// The first element matching `css`.
    pub async fn find(&self, css: &str) -> anyhow::Result<String> {
        let value = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        value[ELEMENT_KEY]
            .as_str()
            .map(str::to_owned)
            .context("no element id")
    }

    /// Waits up to `timeout` for an element matching `css`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> anyhow::Result<String> {
        crate::eventually(css, timeout, || async { self.find(css).await.ok() }).await
    }

    /// Finds and clicks the first element matching `css`, retrying while it is
    /// absent or replaced by a re-render (stale), for up to `timeout`.
    pub async fn click_css(&self, css: &str, timeout: Duration) -> anyhow::Result<()> {
        crate::eventually(css, timeout, || async {
            let element = self.find(css).await.ok()?;
            self.click(&element).await.ok()
        })
        .await
    }

    /// Clicks an element.
    pub async fn click(&self, element: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// Clears an input or textarea.
    pub async fn clear(&self, element: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// Types `text` into an element.
    pub async fn type_text(&self, element: &str, text: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await
        .map(drop)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub async fn execute(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The visible text of the first element matching `css` (empty when absent).
    pub async fn text_of(&self, css: &str) -> anyhow::Result<String> {
        let value = self
            .execute("const e = document.querySelector(arguments[0]); return e ? (e.value || e.innerText) : '';", json!([css]))
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// A PNG screenshot of the viewport.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let data = value.as_str().context("no screenshot data")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(data)?)
    }

    /// Ends the session (closing Chromium); chromedriver stops with this value.
    pub async fn close(self) -> anyhow::Result<()> {
        self.http.delete(&self.session).send().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_chromedriver_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("chromedriver.log");
        std::fs::write(
            &log,
            "Starting ChromeDriver 131.0.6778.85 on port 0\nOnly local connections are allowed.\n\
             ChromeDriver was started successfully on port 50779.\n",
        )
        .expect("write");
        assert_eq!(read_port(&log).expect("port"), 50779);
        std::fs::write(&log, "ChromeDriver was started successfully.\n").expect("write");
        assert!(
            read_port(&log).is_err(),
            "an old chromedriver names no port"
        );
    }
}
