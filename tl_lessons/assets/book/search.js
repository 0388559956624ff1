// The search box: looks through every section of every page (search_index.js, written with the
// book) for all the words typed, and lists the best sections with the words marked.
(function () {
  "use strict";
  var root = document.currentScript.getAttribute("data-root") || "";
  var box = document.getElementById("search");
  var list = document.getElementById("results");
  var index = window.BOOK_INDEX || [];
  var side = document.querySelector("details.side");
  // On a narrow screen the contents start folded, so the page itself comes first.
  if (side && window.matchMedia("(max-width: 900px)").matches) side.open = false;

  function escape(text) {
    return text.replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; });
  }

  function snippet(text, word) {
    var at = text.toLowerCase().indexOf(word);
    var start = Math.max(0, at - 60);
    var piece = (start > 0 ? "… " : "") + text.slice(start, start + 180) + " …";
    return escape(piece).replace(new RegExp("(" + word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + ")", "ig"), "<mark>$1</mark>");
  }

  function search(query) {
    var words = query.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 1; });
    if (!words.length) return [];
    var found = [];
    index.forEach(function (section) {
      var heading = section.heading.toLowerCase(), text = section.text.toLowerCase(), score = 0;
      for (var i = 0; i < words.length; i++) {
        var inHeading = heading.indexOf(words[i]) >= 0, inText = text.split(words[i]).length - 1;
        if (!inHeading && !inText) return;
        score += (inHeading ? 10 : 0) + Math.min(inText, 10);
      }
      found.push({section: section, score: score});
    });
    found.sort(function (a, b) { return b.score - a.score; });
    return found.slice(0, 12).map(function (hit) { return {section: hit.section, word: words[0]}; });
  }

  function show() {
    var hits = search(box.value);
    if (!box.value.trim()) { list.hidden = true; list.innerHTML = ""; return; }
    list.innerHTML = hits.length ? hits.map(function (hit) {
      var s = hit.section;
      return '<li><a href="' + root + s.url + '">' + escape(s.heading || s.page) + '</a>' +
        '<div class="where">' + escape(s.page) + '</div><div>' + snippet(s.text, hit.word) + '</div></li>';
    }).join("") : "<li>Nothing in the book matches all of these words.</li>";
    list.hidden = false;
  }

  box.addEventListener("input", show);
  box.addEventListener("keydown", function (event) {
    var first = list.querySelector("a");
    if (event.key === "Enter" && first) window.location.href = first.href;
    if (event.key === "Escape") { box.value = ""; show(); }
  });
  document.addEventListener("click", function (event) {
    if (!list.contains(event.target) && event.target !== box) list.hidden = true;
  });
})();
