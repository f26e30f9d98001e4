function route(url) {
  return url === "/" ? "hello\n" : `no page at ${url}\n`;
}

module.exports = { route };
