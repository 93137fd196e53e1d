// Full-text search through Pagefind (it segments Chinese, which mdBook's own search does not).
// scripts/test-all.sh indexes the built book into pagefind/; without that index the box stays away.
(function () {
    var root = typeof path_to_root === "string" ? path_to_root : "";
    var bundle = root + "pagefind/";
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
        new PagefindUI({ element: "#labctl-search", bundlePath: bundle, baseUrl: base, showImages: false, resetStyles: false });
    };
    script.onerror = function () { box.remove(); };
    document.head.appendChild(script);
})();
