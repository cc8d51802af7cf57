//! Headless Chromium for the console tests: Debian's `chromium`, driven over WebDriver through
//! Debian's `chromedriver` (the two come from the same source package, so their versions match).
//! `scripts/setup-test-deps.sh` installs both.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::{ChildProcess, free_port, repo_root, wait_until_ok};

/// How long a page may take to show what a test waits for. Generous: the operator and the
/// model sit behind the page, and these machines are shared.
pub const PAGE_WAIT: Duration = Duration::from_secs(60);

/// A headless Chromium session. Dropping it ends the browser with its chromedriver.
pub struct Browser {
    pub client: Client,
    profile: PathBuf,
    _driver: ChildProcess,
}

impl Browser {
    /// A desktop browser with a window of `width` x `height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> Self {
        Self::launch(width, height, json!({})).await
    }

    /// A phone: a viewport of `width` x `height` CSS pixels, emulated (a headless window is never
    /// narrower than 500 pixels), touch-sized and with a phone's user agent.
    pub async fn phone(width: u32, height: u32) -> Self {
        let emulation = json!({
            "mobileEmulation": {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true}},
        });
        Self::launch(width.max(500), height, emulation).await
    }

    async fn launch(width: u32, height: u32, extra_options: Value) -> Self {
        let port = free_port();
        let driver = ChildProcess::spawn(
            "chromedriver",
            Command::new("chromedriver").arg(format!("--port={port}")),
        );
        let url = format!("http://127.0.0.1:{port}");
        wait_until_ok(&format!("{url}/status"), &driver).await;
        let profile = std::env::temp_dir().join(format!(
            "agentarea-console-profile-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--lang=en-US",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let mut capabilities = capabilities;
        if let Value::Object(extra) = extra_options {
            capabilities["goog:chromeOptions"]
                .as_object_mut()
                .expect("an object literal")
                .extend(extra);
        }
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "start a Chromium session: {e}\nchromedriver said:\n{}",
                    driver.output()
                )
            });
        Self {
            client,
            profile,
            _driver: driver,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The first element matching `css`, once there is one.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no {css} on the page: {e}\npage text:\n{}",
                self.page_text().await
            ),
        }
    }

    /// Waits until the JavaScript expression `predicate` is true on the page.
    pub async fn wait_until(&self, what: &str, predicate: &str) {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            if self.eval(predicate).await == json!(true) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "timed out waiting for {what} ({predicate})\npage text:\n{}",
                    self.page_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an element matching `css` has `text` among its text.
    pub async fn wait_for_text(&self, css: &str, text: &str) {
        let predicate = format!(
            "[...document.querySelectorAll({})].some(e => e.textContent.includes({}))",
            json!(css),
            json!(text)
        );
        self.wait_until(&format!("{text:?} in {css}"), &predicate)
            .await;
    }

    /// The value of the JavaScript expression `expression`.
    pub async fn eval(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap_or_else(|e| panic!("evaluate {expression}: {e}"))
    }

    /// Everything the page says, for failure messages.
    pub async fn page_text(&self) -> String {
        self.client
            .execute(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|e| format!("(unreadable: {e})"))
    }

    /// Types `text` into the form control labelled `label`.
    pub async fn fill(&self, label: &str, text: &str) {
        let control = self.labelled(label).await;
        control.clear().await.expect("clear the field");
        control.send_keys(text).await.expect("type into the field");
    }

    /// The form control whose `<label>` says exactly `label`.
    pub async fn labelled(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space()={}]", xpath_literal(label));
        let found = self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no label {label:?}: {e}"));
        let id = found
            .attr("for")
            .await
            .expect("read the label")
            .unwrap_or_default();
        self.client
            .find(Locator::Id(&id))
            .await
            .unwrap_or_else(|e| panic!("no control for label {label:?}: {e}"))
    }

    /// Clicks the button or link whose text is exactly `text`, once it is there.
    pub async fn click(&self, text: &str) {
        let literal = xpath_literal(text);
        let xpath =
            format!("//button[normalize-space()={literal}] | //a[normalize-space()={literal}]");
        let element = self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("nothing to click that says {text:?}: {e}"));
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {text:?}: {e}"));
    }

    /// Presses and releases `key` where the focus is, as a keyboard does.
    pub async fn press(&self, key: Key) {
        let value: char = key.into();
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
        self.client
            .perform_actions(actions)
            .await
            .expect("press a key");
    }

    /// Saves a screenshot of the window as `<name>.png` among the test artefacts, and returns
    /// its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("take a screenshot");
        let dir = artifacts_dir("console");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

impl Browser {
    /// Ends the session, which quits the browser.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed before `close` leaves the browser running; its processes are the
        // ones started with this profile directory.
        let _ = Command::new("pkill")
            .arg("-KILL")
            .arg("-f")
            .arg(self.profile.as_os_str())
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The DOM of the page at `url` after its scripts have run (Chromium's `--dump-dom`), for a look
/// at what a page renders without driving it.
pub async fn rendered_dom(url: &str) -> String {
    let profile = std::env::temp_dir().join(format!(
        "agentarea-chromium-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let output = tokio::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .await
        .expect("chromium runs (scripts/setup-test-deps.sh installs it)");
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Where a test suite keeps what it leaves for people to look at (`target/test-artifacts/<suite>`
/// in the repository, out of git).
pub fn artifacts_dir(suite: &str) -> PathBuf {
    let dir = repo_root().join("target/test-artifacts").join(suite);
    std::fs::create_dir_all(&dir).expect("create the artefacts directory");
    dir
}

/// `text` as an XPath string literal (XPath 1.0 has no escapes; quotes are joined with concat).
fn xpath_literal(text: &str) -> String {
    if !text.contains('"') {
        return format!("\"{text}\"");
    }
    let parts: Vec<String> = text.split('"').map(|p| format!("\"{p}\"")).collect();
    format!("concat({})", parts.join(", '\"', "))
}
