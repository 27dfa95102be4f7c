// MathJax 2 settings for every page: $...$ and $$...$$ in the tutorials' markdown cells,
// \( \) and \[ \] from pymdownx.arithmatex on the other pages. Read by MathJax.js, which
// loads next, from the site's own copy (assets/mathjax, taken from the
// jupyter-server-mathjax package): no CDN, so the math renders offline. That copy holds
// one combined configuration and the STIX-Web fonts, which these settings name.
window.MathJax = {
  config: ["TeX-AMS-MML_HTMLorMML-full.js"],
  "HTML-CSS": { availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null },
  tex2jax: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  messageStyle: "none",
  showMathMenu: false
};
