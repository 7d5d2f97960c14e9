/* Autocomplete for the search box, as progressive enhancement: titles from
   the /suggest API offered in a WAI-ARIA 1.2 combobox with a listbox
   (aria-expanded, aria-controls, aria-activedescendant; Down and Up arrows
   move through the suggestions, Enter picks one and searches, Escape closes
   the list). Requests are debounced and a newer one aborts the one before.
   Suggestions are put in the page as text only (textContent), never as HTML.
   Without this script the search form works as it is. */
(function () {
  "use strict";
  var input = document.querySelector("input[data-suggest]");
  if (!input || !input.form || !window.fetch || !window.AbortController || !window.URLSearchParams) {
    return;
  }
  var DELAY_MS = 200, MIN_CHARS = 2, SIZE = 8;
  var form = input.form;
  var endpoint = input.getAttribute("data-suggest");
  var listId = input.id + "-suggestions";
  var list = document.createElement("ul");
  var timer = null, controller = null, active = -1, composing = false;

  list.id = listId;
  list.className = "suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", input.getAttribute("data-suggest-label") || "");
  list.hidden = true;
  input.parentNode.appendChild(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", listId);
  input.setAttribute("autocomplete", "off");

  function options() {
    return list.querySelectorAll("[role=option]");
  }

  function setOpen(open) {
    list.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) {
      highlight(-1);
    }
  }

  function highlight(index) {
    var opts = options();
    for (var i = 0; i < opts.length; i++) {
      opts[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
    if (index < 0 || !opts[index]) {
      active = -1;
      input.removeAttribute("aria-activedescendant");
      return;
    }
    input.setAttribute("aria-activedescendant", opts[index].id);
    if (opts[index].scrollIntoView) {
      opts[index].scrollIntoView({block: "nearest"});
    }
  }

  function show(items) {
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    items.forEach(function (item, i) {
      var option = document.createElement("li");
      option.id = listId + "-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.dir = "auto";
      option.textContent = item.text;
      if (item.term) {  // a place or theme the search understands
        option.setAttribute("data-term", "");
        option.className = "term";
      }
      list.appendChild(option);
    });
    active = -1;
    input.removeAttribute("aria-activedescendant");
    setOpen(items.length > 0);
  }

  function strings(values) {
    return Array.isArray(values) ? values.filter(function (s) { return typeof s === "string" && s; }) : [];
  }

  function ask() {
    var typed = input.value.trim();
    if (controller) {
      controller.abort();  // its answer would be stale
      controller = null;
    }
    if (Array.from(typed).length < MIN_CHARS) {  // letters, not UTF-16 units
      show([]);
      return;
    }
    var mine = controller = new AbortController();
    var query = new URLSearchParams({q: typed.slice(0, 100), size: String(SIZE),
                                     lang: document.documentElement.lang || ""});
    fetch(endpoint + "?" + query.toString(), {signal: mine.signal, headers: {Accept: "application/json"}})
      .then(function (response) { return response.ok ? response.json() : {suggestions: []}; })
      .then(function (data) {
        if (mine !== controller || document.activeElement !== input) {
          return;
        }
        // places and themes in the page's language first (at most half), then titles
        var terms = strings(data && data.terms).slice(0, Math.ceil(SIZE / 2));
        var titles = strings(data && data.suggestions);
        show(terms.map(function (t) { return {text: t, term: true}; })
          .concat(titles.map(function (t) { return {text: t, term: false}; }))
          .slice(0, SIZE));
      })
      .catch(function () { /* aborted or offline: the form works without suggestions */ });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(ask, DELAY_MS);
  }

  function pick(index) {
    var opts = options();
    if (!opts[index]) {
      return;
    }
    // a picked title is searched as that phrase: its words are the title's, not a
    // place or theme to understand ("Animal Foster Parent" is no city called Pare);
    // a picked place or theme is searched as it is, to be understood
    var text = opts[index].textContent;
    input.value = opts[index].hasAttribute("data-term") ? text
      : '"' + text.replace(/["\u201c\u201d\u00ab\u00bb]/g, "") + '"';
    setOpen(false);
    if (form.requestSubmit) {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function move(step) {
    var count = options().length;
    if (!count) {
      return;
    }
    if (list.hidden) {
      setOpen(true);
    }
    var next = active < 0 ? (step > 0 ? 0 : count - 1) : (active + step + count) % count;
    highlight(next);
  }

  input.addEventListener("input", function (event) {
    if (!composing && !event.isComposing) {
      later();
    }
  });
  // Input methods (e.g. for Arabic or Cyrillic on some keyboards) compose a
  // word first: ask when it is written, not for every keystroke of it.
  input.addEventListener("compositionstart", function () { composing = true; });
  input.addEventListener("compositionend", function () { composing = false; later(); });

  input.addEventListener("keydown", function (event) {
    if (event.isComposing) {
      return;
    }
    var open = !list.hidden;
    if (event.key === "ArrowDown" || event.key === "Down") {
      event.preventDefault();
      if (event.altKey) {
        setOpen(options().length > 0);
      } else if (options().length) {
        move(1);
      } else {
        ask();
      }
    } else if (event.key === "ArrowUp" || event.key === "Up") {
      event.preventDefault();
      if (event.altKey) {
        setOpen(false);
      } else {
        move(-1);
      }
    } else if (event.key === "Enter") {
      if (open && active >= 0) {
        event.preventDefault();
        pick(active);
      } else {
        clearTimeout(timer);
        setOpen(false);  // and the form is sent as typed
      }
    } else if (event.key === "Escape" || event.key === "Esc") {
      if (open) {
        event.preventDefault();  // a search box would clear itself: only close the list
        setOpen(false);
      }
    } else if (event.key === "Tab") {
      setOpen(false);
    }
  });

  input.addEventListener("blur", function () {
    clearTimeout(timer);
    setOpen(false);
  });
  // A pointer picks too; pressing keeps the focus in the box.
  list.addEventListener("mousedown", function (event) { event.preventDefault(); });
  list.addEventListener("click", function (event) {
    var option = event.target.closest ? event.target.closest("[role=option]") : null;
    if (option) {
      pick(Array.prototype.indexOf.call(options(), option));
    }
  });
  window.addEventListener("pageshow", function () { setOpen(false); });
})();
