// The invite page's sign-up: user name availability as it is typed, then Synapse's registration
// with the m.login.registration_token flow (user-interactive auth), through this same origin.
// Plain JavaScript, no framework; texts come from the form's data-* attributes (the page's
// language); everything shown is set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var form = document.getElementById("signup");
  if (!form) {
    return;
  }
  var d = form.dataset;
  var nameInput = form.elements.username;
  var password = form.elements.password;
  var again = form.elements.password2;
  var button = form.querySelector("button");
  var nameStatus = document.getElementById("name-status");
  var status = document.getElementById("status");
  var NAME = /^[a-z0-9._=\-\/+]+$/;
  var SUPPORTED = ["m.login.registration_token", "m.login.dummy"];
  var timer = null;
  var asked = 0;

  function say(element, text, kind) {
    element.textContent = text;
    element.className = "status" + (kind ? " " + kind : "");
  }

  // A request the network dropped (a phone changing networks; Chromium cancels requests in
  // flight whenever an interface comes or goes) is sent again, up to 5 times over about 15 s,
  // waiting a little longer each time. Repeating is safe:
  // availability is a read, and Synapse answers a repeated registration step of the same
  // session with the account that session already created.
  function api(method, path, body, tries) {
    var init = { method: method, headers: {}, credentials: "omit", cache: "no-store" };
    if (body) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    tries = tries === undefined ? 5 : tries;
    return fetch(path, init).then(function (response) {
      return response.json().catch(function () {
        return {};
      }).then(function (json) {
        return { status: response.status, body: json };
      });
    }, function (error) {
      if (tries <= 0) {
        throw error;
      }
      return new Promise(function (resolve) {
        setTimeout(resolve, 1000 * (6 - tries));
      }).then(function () {
        return api(method, path, body, tries - 1);
      });
    });
  }

  function userName() {
    return nameInput.value.trim().toLowerCase();
  }

  function checkName() {
    var name = userName();
    var mine = ++asked;
    if (!name) {
      say(nameStatus, "");
      return Promise.resolve(false);
    }
    if (!NAME.test(name)) {
      say(nameStatus, d.msgInvalidName, "bad");
      return Promise.resolve(false);
    }
    say(nameStatus, d.msgChecking);
    var path = "/_matrix/client/v3/register/available?username=" + encodeURIComponent(name);
    return api("GET", path).then(function (r) {
      if (mine !== asked) {
        return false;
      }
      if (r.status === 200 && r.body.available) {
        say(nameStatus, d.msgAvailable.replace("{0}", "@" + name + ":" + d.serverName), "good");
        return true;
      }
      if (r.body.errcode === "M_USER_IN_USE") {
        say(nameStatus, d.msgTaken, "bad");
      } else if (r.body.errcode === "M_INVALID_USERNAME" || r.body.errcode === "M_EXCLUSIVE") {
        say(nameStatus, d.msgInvalidName, "bad");
      } else if (r.status === 429) {
        say(nameStatus, d.msgSlowDown, "bad");
      } else {
        say(nameStatus, d.msgFailed + " " + (r.body.error || r.status), "bad");
      }
      return false;
    }, function () {
      say(nameStatus, d.msgOffline, "bad");
      return false;
    });
  }

  nameInput.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(checkName, 400);
  });

  // Walks the user-interactive auth: each 401 names the stages done so far; the next one of the
  // first flow made only of stages this page can do is sent, with the invite's token.
  function register(name, secret) {
    var request = { username: name, password: secret, inhibit_login: true };
    var rounds = 0;
    function send() {
      return api("POST", "/_matrix/client/v3/register", request).then(next);
    }
    function next(r) {
      if (r.status === 200) {
        return r.body.user_id;
      }
      if (r.status !== 401 || !r.body.flows || r.body.errcode || ++rounds > 5) {
        throw r;
      }
      var done = r.body.completed || [];
      var flow = r.body.flows.map(function (f) {
        return f.stages;
      }).filter(function (stages) {
        return stages.every(function (s) {
          return SUPPORTED.indexOf(s) >= 0;
        });
      })[0];
      if (!flow) {
        throw { status: 0, body: { error: d.msgUnsupported } };
      }
      var stage = flow.filter(function (s) {
        return done.indexOf(s) < 0;
      })[0];
      if (!stage) {
        throw r;
      }
      request.auth = { type: stage, session: r.body.session };
      if (stage === "m.login.registration_token") {
        request.auth.token = d.token;
      }
      return send();
    }
    return send();
  }

  function failed(r) {
    if (r instanceof Error || !r || r.body === undefined) {
      return d.msgOffline;
    }
    var code = r.body.errcode;
    if (code === "M_USER_IN_USE") {
      return d.msgTaken;
    }
    if (code === "M_INVALID_USERNAME") {
      return d.msgInvalidName;
    }
    if (code === "M_LIMIT_EXCEEDED") {
      return d.msgSlowDown;
    }
    if (r.status === 401) {
      return d.msgTokenGone;
    }
    return d.msgFailed + " " + (r.body.error || r.status);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (password.value.length < 8) {
      say(status, d.msgShort, "bad");
      return;
    }
    if (password.value !== again.value) {
      say(status, d.msgDiffer, "bad");
      return;
    }
    button.disabled = true;
    say(status, d.msgRegistering);
    checkName().then(function (free) {
      if (!free) {
        say(status, "");
        button.disabled = false;
        return;
      }
      return register(userName(), password.value).then(function (userId) {
        document.getElementById("done-user").textContent = userId;
        form.hidden = true;
        document.getElementById("intro").hidden = true;
        document.getElementById("done").hidden = false;
      });
    }).catch(function (r) {
      say(status, failed(r), "bad");
      button.disabled = false;
    });
  });
})();
