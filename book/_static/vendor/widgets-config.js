// Loaded after require.js and before the html-manager's embed-amd.js, on pages with widgets.
// 1. The html-manager looks for its web fonts under the require.js URL of "@jupyter-widgets/...";
//    map that prefix to the vendored copy beside this file, so nothing is fetched from a CDN.
// 2. The book theme's FontAwesome script rewrites every <i class="fa ..."> it sees appear into
//    an <svg>, including the icons inside widgets; that breaks the Play widget and the links
//    between widgets. Icons present when the page loads are still converted.
// 3. The html-manager typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book
//    loads MathJax 3, which has no Hub: route those calls to MathJax 3's typesetPromise.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  require.config({ paths: { "@jupyter-widgets": here + "jw" } });
  window.FontAwesomeConfig = Object.assign(window.FontAwesomeConfig || {}, {
    observeMutations: false,
  });
  // MathJax 3 replaces the global object when it loads, so re-attach the shim on every set.
  var hub = {
    Queue: function (cmd) {
      var el = cmd && cmd[2];
      if (el && window.MathJax.typesetPromise) window.MathJax.typesetPromise([el]);
    },
  };
  var current = window.MathJax || {};
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) {
      current = value;
      if (value && !value.Hub) value.Hub = hub;
    },
  });
  window.MathJax = current;
})();
