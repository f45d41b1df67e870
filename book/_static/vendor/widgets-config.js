// Loaded after require.js and before the html-manager's embed-amd.js, on pages with widgets.
// 1. The html-manager looks for its web fonts under the require.js URL of "@jupyter-widgets/...";
//    map that prefix to the vendored copy beside this file, so nothing is fetched from a CDN.
// 2. The book theme's FontAwesome script rewrites every <i class="fa ..."> it sees appear into
//    an <svg>, including the icons inside widgets; that breaks the Play widget and the links
//    between widgets. Icons present when the page loads are still converted.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  require.config({ paths: { "@jupyter-widgets": here + "jw" } });
  window.FontAwesomeConfig = Object.assign(window.FontAwesomeConfig || {}, {
    observeMutations: false,
  });
})();
