// Full-text search through Pagefind (it segments Chinese, which mdBook's own search does not).
// scripts/test-all.sh indexes the built book into pagefind/; without that index the box stays away.
(function () {
    var root = typeof path_to_root === "string" ? path_to_root : "";
    // Absolute: pagefind-ui.js imports pagefind.js relative to itself, not to this page.
    var bundle = new URL(root + "pagefind/", window.location.href).pathname;
    var main = document.querySelector("#content main");
    if (!main) return;
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = bundle + "pagefind-ui.css";
    document.head.appendChild(css);
    var box = document.createElement("div");
    box.id = "labctl-search";
    main.insertBefore(box, main.firstChild);
    var script = document.createElement("script");
    script.src = bundle + "pagefind-ui.js";
    script.onload = function () {
        var base = new URL(root || "./", window.location.href).pathname;
        var ui = new PagefindUI({ element: "#labctl-search", bundlePath: bundle, baseUrl: base, showImages: false, resetStyles: false });
        // A link can carry a search: introduction.html?search=网络
        var asked = new URLSearchParams(window.location.search).get("search");
        if (asked) ui.triggerSearch(asked);
    };
    script.onerror = function () { box.remove(); };
    document.head.appendChild(script);
})();
