// A Node.js server that crashes on start: it requires a module by the wrong name
// (the file is lib/router.js). otorepair sees "Cannot find module" and the crash.
//   otorepair -- node examples/node_bad_import/server.js
const http = require("http");
const { route } = require("./lib/routes");

const port = Number(process.env.PORT || 8766);
http
  .createServer((req, res) => {
    const body = route(req.url);
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(body);
  })
  .listen(port, "127.0.0.1", () => {
    console.log(`Serving on http://127.0.0.1:${port}`);
  });
