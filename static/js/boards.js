/* Boards (templates/issues/board.html): drag and drop, keyboard moves, WIP limits and loading cards on scroll.
 * A move is one POST to the board's move URL (issue, status, the cards after/before the drop, the board's quick
 * filters and swimlane); the card moves in the page once the server accepted it, nothing is re-rendered.
 * No inline script or style (CSP): everything is wired here from data- attributes. */
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) return;
  var canMove = board.dataset.canMove === "1";
  var csrfInput = board.querySelector("input[name=csrfmiddlewaretoken]");
  var csrf = csrfInput ? csrfInput.value : "";
  var statusBox = document.getElementById("board-status");
  var dragging = null;

  function say(text, isError) {
    statusBox.textContent = text;
    statusBox.classList.toggle("error", !!isError);
  }

  function cardsOf(list) {
    return Array.prototype.filter.call(list.children, function (el) { return el.classList.contains("board-card"); });
  }

  function head(statusId) {
    return board.querySelector('.board-column-head[data-status="' + statusId + '"]');
  }

  function setCount(statusId, delta) {
    var h = head(statusId);
    if (!h) return;
    var count = parseInt(h.dataset.count || "0", 10) + delta;
    h.dataset.count = String(count);
    h.querySelector(".count").textContent = String(count);
    paintWip(statusId);
  }

  function paintWip(statusId) {
    var h = head(statusId);
    if (!h) return;
    var wip = h.dataset.wip ? parseInt(h.dataset.wip, 10) : null;
    var over = wip !== null && parseInt(h.dataset.count, 10) > wip;
    h.classList.toggle("over-wip", over);
    var flag = h.querySelector(".wip-flag");
    if (over && !flag) {
      flag = document.createElement("span");
      flag.className = "wip-flag";
      flag.textContent = "over the WIP limit";
      h.appendChild(flag);
    } else if (!over && flag) {
      flag.remove();
    }
    board.querySelectorAll('.board-column[data-status="' + statusId + '"]').forEach(function (col) {
      col.classList.toggle("over-wip", over);
    });
  }

  function move(card, list, beforeCard) {
    if (!canMove || !card.dataset.movable) return;
    if (beforeCard === card) return;
    var fromList = card.parentElement;
    var siblings = cardsOf(list).filter(function (c) { return c !== card; });
    var index = beforeCard ? siblings.indexOf(beforeCard) : siblings.length;
    var after = index > 0 ? siblings[index - 1] : null;
    var before = index >= 0 && index < siblings.length ? siblings[index] : null;
    if (fromList === list) {
      var current = cardsOf(list);
      var at = current.indexOf(card);
      if ((current[at - 1] || null) === after && (current[at + 1] || null) === before) return; // dropped in place
    }
    var body = new URLSearchParams(board.dataset.query || "");
    body.set("issue", card.dataset.key);
    body.set("status", list.dataset.status);
    if (list.dataset.lane) body.set("lane", list.dataset.lane);
    if (after) body.set("after", after.dataset.key);
    if (before) body.set("before", before.dataset.key);
    card.classList.add("saving");
    fetch(board.dataset.moveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" },
      body: body
    }).then(function (response) {
      return response.json().catch(function () { return { error: "The server answered " + response.status + "." }; })
        .then(function (data) { return { ok: response.ok, status: response.status, data: data }; });
    }).then(function (result) {
      card.classList.remove("saving");
      if (!result.ok) {
        say(card.dataset.key + " was not moved: " + (result.data.error || "error " + result.status), true);
        card.focus();
        return;
      }
      var fromStatus = fromList.dataset.status;
      list.insertBefore(card, before);
      if (fromStatus !== list.dataset.status) {
        setCount(fromStatus, -1);
        setCount(list.dataset.status, 1);
      }
      var title = head(list.dataset.status).querySelector(".column-title").textContent;
      say(card.dataset.key + " moved to " + title + (after ? ", after " + after.dataset.key : ", at the top") + ".", false);
      card.focus();
    }).catch(function () {
      card.classList.remove("saving");
      say(card.dataset.key + " was not moved: the server did not answer.", true);
    });
  }

  /* Drag and drop: only movable cards, only within the card's swimlane. */
  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".board-card[data-movable]");
    if (!card || !canMove) return;
    dragging = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.key);
  });
  board.addEventListener("dragend", function () {
    if (dragging) dragging.classList.remove("dragging");
    dragging = null;
    board.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
  });

  function listAt(event) {
    var col = event.target.closest && event.target.closest(".board-column");
    if (!col || !dragging) return null;
    var list = col.querySelector(".board-cards");
    if ((list.dataset.lane || "") !== (dragging.parentElement.dataset.lane || "")) return null;
    return list;
  }

  function cardBelow(list, y) {
    var found = null;
    cardsOf(list).some(function (c) {
      if (c === dragging) return false;
      var box = c.getBoundingClientRect();
      if (y < box.top + box.height / 2) { found = c; return true; }
      return false;
    });
    return found;
  }

  board.addEventListener("dragover", function (event) {
    var list = listAt(event);
    if (!list) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    board.querySelectorAll(".drop-target").forEach(function (el) { if (el !== list) el.classList.remove("drop-target"); });
    list.classList.add("drop-target");
  });
  board.addEventListener("drop", function (event) {
    var list = listAt(event);
    if (!list) return;
    event.preventDefault();
    list.classList.remove("drop-target");
    move(dragging, list, cardBelow(list, event.clientY));
  });

  /* Keyboard: arrows move the focus, Shift+arrows move the card, Enter opens it. */
  function neighbourList(list, step) {
    var row = list.closest(".board-row");
    var lists = Array.prototype.slice.call(row.querySelectorAll(".board-cards"));
    return lists[lists.indexOf(list) + step] || null;
  }

  board.addEventListener("keydown", function (event) {
    var card = event.target.closest && event.target.closest(".board-card");
    if (!card || event.altKey || event.ctrlKey || event.metaKey) return;
    var list = card.parentElement;
    var cards = cardsOf(list);
    var i = cards.indexOf(card);
    var key = event.key;
    if (key === "Enter") {
      var link = card.querySelector(".card-key");
      if (link) window.location.href = link.href;
      event.preventDefault();
      return;
    }
    if (["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"].indexOf(key) < 0) return;
    event.preventDefault();
    event.stopPropagation();
    if (!event.shiftKey) {
      var target = null;
      if (key === "ArrowUp") target = cards[i - 1];
      if (key === "ArrowDown") target = cards[i + 1];
      if (key === "ArrowLeft" || key === "ArrowRight") {
        var other = neighbourList(list, key === "ArrowLeft" ? -1 : 1);
        target = other ? cardsOf(other)[0] : null;
      }
      if (target) target.focus();
      return;
    }
    if (!canMove || !card.dataset.movable) {
      say("You can view this board; only members can move cards.", true);
      return;
    }
    if (key === "ArrowUp" && i > 0) move(card, list, cards[i - 1]);
    if (key === "ArrowDown" && i < cards.length - 1) move(card, list, cards[i + 2] || null);
    if (key === "ArrowLeft" || key === "ArrowRight") {
      var to = neighbourList(list, key === "ArrowLeft" ? -1 : 1);
      if (to) move(card, to, cardsOf(to)[0] || null);
    }
  });

  /* The rest of a column, a page at a time: on click, or when the button scrolls into view. */
  function loadMore(button) {
    if (button.dataset.loading) return;
    button.dataset.loading = "1";
    var list = button.parentElement.querySelector(".board-cards");
    var params = new URLSearchParams(board.dataset.query || "");
    params.set("status", list.dataset.status);
    if (list.dataset.lane) params.set("lane", list.dataset.lane);
    params.set("cursor", button.dataset.cursor);
    fetch(board.dataset.cardsUrl + "?" + params.toString(), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        delete button.dataset.loading;
        if (data.error) { say(data.error, true); return; }
        var holder = document.createElement("template");
        holder.innerHTML = data.html;
        Array.prototype.forEach.call(holder.content.querySelectorAll(".board-card"), function (c) {
          if (!document.getElementById(c.id)) list.appendChild(c); // a card moved here already shows
        });
        if (data.next) button.dataset.cursor = data.next; else button.remove();
      })
      .catch(function () { delete button.dataset.loading; say("More cards could not be loaded.", true); });
  }
  board.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".load-more");
    if (button) loadMore(button);
  });
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) { if (entry.isIntersecting && entry.target.isConnected) loadMore(entry.target); });
    }, { rootMargin: "200px" });
    board.querySelectorAll(".load-more").forEach(function (b) { seen.observe(b); });
  }
  board.querySelectorAll(".board-column-head").forEach(function (h) { paintWip(h.dataset.status); });
})();
