#!/usr/bin/env bash
# Refresh the JavaScript (widgets, MathJax) vendored into book/_static/vendor from the npm registry, so the
# built book renders ipywidgets offline (no CDN). Run by hand; the files are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
HTML_MANAGER=${HTML_MANAGER:-1.0.15}  # @jupyter-widgets/html-manager 1.0.x = ipywidgets 8
REQUIREJS=${REQUIREJS:-2.3.7}
MATHJAX=${MATHJAX:-3.2.2}  # the equations, rendered without a CDN too
tmp=$(mktemp -d)
(cd "$tmp" && npm pack -q "@jupyter-widgets/html-manager@$HTML_MANAGER" "requirejs@$REQUIREJS" "mathjax@$MATHJAX" >/dev/null)
for f in "$tmp"/*.tgz; do tar xzf "$f" -C "$tmp" --one-top-level="$(basename "$f" .tgz)"; done
dst=book/_static/vendor
rm -rf "$dst/jw" "$dst/require.js" "$dst/mathjax" && mkdir -p "$dst/jw/html-manager/dist"
src="$tmp/jupyter-widgets-html-manager-$HTML_MANAGER/package/dist"
# embed-amd.js asks for its web fonts beside the require.js URL of the module that uses them:
# @jupyter-widgets/<font> and @jupyter-widgets/html-manager/dist/<font>. widgets-config.js maps
# "@jupyter-widgets" to vendor/jw, so the fonts live in both folders (woff2 is all browsers use).
cp "$src/embed-amd.js" "$src/embed.js.LICENSE.txt" "$src"/*.woff2 "$dst/jw/html-manager/dist/"
cp "$src"/*.woff2 "$dst/jw/"
cp "$tmp/requirejs-$REQUIREJS/package/require.js" "$dst/require.js"
mkdir -p "$dst/mathjax/output/chtml/fonts"
cp "$tmp/mathjax-$MATHJAX/package/es5/tex-mml-chtml.js" "$tmp/mathjax-$MATHJAX/package/LICENSE" "$dst/mathjax/"
cp -r "$tmp/mathjax-$MATHJAX/package/es5/output/chtml/fonts/woff-v2" "$dst/mathjax/output/chtml/fonts/"
cat > "$dst/README.md" <<EOT
Vendored by tools/vendor_widgets.sh from the npm registry, so that widgets render with no network:
- @jupyter-widgets/html-manager $HTML_MANAGER (BSD-3-Clause; bundled licences in
  jw/html-manager/dist/embed.js.LICENSE.txt): dist/embed-amd.js and its woff2 fonts.
- requirejs $REQUIREJS (MIT): require.js.
- mathjax $MATHJAX (Apache-2.0): es5/tex-mml-chtml.js and its woff-v2 fonts, as mathjax/
  (_config.yml's mathjax_path points there).
_config.yml points myst-nb's nb_ipywidgets_js at require.js, widgets-config.js (ours, kept by
this script) and embed-amd.js, and only these: a page must load one widget manager, or each
widget renders twice.
EOT
rm -rf "$tmp"
echo "vendored html-manager $HTML_MANAGER and requirejs $REQUIREJS into $dst"
