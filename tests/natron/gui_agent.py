"""Runs inside Natron's GUI for tests/natron/gui_check.py: answers the check's requests from
a control folder, on Natron's own event loop.

The check writes a request as CONTROL/NNNNN.py (Python run here with `app`, the graph's nodes
and the helpers below in scope; it sets `result`) and reads the answer from
CONTROL/NNNNN.json: {"ok": true, "result": ...} or {"ok": false, "error": traceback}. A
QTimer looks for requests every 50 ms, so requests run on the GUI thread between Natron's
own events, as a Python panel's code would.

What Natron 2.5's Python API lacks, the helpers read from the Qt widgets (PySide2, the same
Qt as Natron's): where the viewer and the properties panel are on screen, the canonical
coordinates of the mouse that the viewer's info bar shows, the nodes' error and warning
badges in the node graph (with their messages, which Natron puts in the node's tooltip: the
GUI prints no persistent message, unlike NatronRenderer) and any modal dialog.
"""
import json
import os
import re
import sys
import traceback

from PySide2 import QtCore, QtGui, QtWidgets

# Kept alive here: a QTimer without a Python reference would be collected.
_keep = {}


def widgets(class_name, visible=True):
    """The application's widgets of Qt class `class_name` (Natron's own classes, in its
    namespace: "Natron::ViewerGL", included)."""
    return [w for w in QtWidgets.QApplication.allWidgets()
            if w.metaObject().className().split("::")[-1] == class_name and (w.isVisible() or not visible)]


def screen_rect(w):
    """[x, y, width, height] of widget `w` on the screen."""
    p = w.mapToGlobal(QtCore.QPoint(0, 0))
    return [p.x(), p.y(), w.width(), w.height()]


def main_window():
    tops = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, QtWidgets.QMainWindow) and w.isVisible()]
    return tops[0] if tops else None


def viewer_rect():
    """The viewer's OpenGL widget on the screen (the largest visible ViewerGL)."""
    found = widgets("ViewerGL")
    if not found:
        return None
    return screen_rect(max(found, key=lambda w: w.width() * w.height()))


def viewer_rendering():
    """Whether the viewer renders now: its refresh button's icon is Natron's red "rendering"
    one while the viewer node's rendering counter is above 0 (ViewerTab::
    refreshViewerRenderingState), grey otherwise. None without a viewer."""
    buttons = [b for b in QtWidgets.QApplication.allWidgets() if isinstance(b, QtWidgets.QAbstractButton)
               and b.isVisible() and "Forces a new render of the current frame" in b.toolTip()]
    if not buttons:
        return None
    img = buttons[0].icon().pixmap(16, 16).toImage()
    red = grey = 0
    for y in range(img.height()):
        for x in range(img.width()):
            c = img.pixelColor(x, y)
            if c.alpha() > 128:
                if c.red() > 2 * max(c.green(), c.blue(), 20):
                    red += 1
                else:
                    grey += 1
    return red > grey


def enlarge_viewer(fraction):
    """Gives the viewer's pane `fraction` of the height it shares with the node graph (the
    vertical splitter above the viewer); the new viewer rectangle."""
    found = widgets("ViewerGL")
    if not found:
        return None
    w = max(found, key=lambda v: v.width() * v.height())
    child, parent = w, w.parentWidget()
    while parent is not None:
        if isinstance(parent, QtWidgets.QSplitter) and parent.orientation() == QtCore.Qt.Vertical and parent.count() == 2:
            total = sum(parent.sizes())
            first = parent.indexOf(child) == 0
            big = int(total * fraction)
            parent.setSizes([big, total - big] if first else [total - big, big])
            break
        child, parent = parent, parent.parentWidget()
    QtWidgets.QApplication.processEvents()
    return viewer_rect()


def panel_rect(label):
    """The properties panel of the node labelled `label` on the screen: its DockablePanel
    (Natron's NodeSettingsPanel), else None when the panel is closed."""
    for w in widgets("NodeSettingsPanel"):
        names = [c.text() for c in w.findChildren(QtWidgets.QLineEdit)]
        if label in names:
            return screen_rect(w)
    return None


def properties_rect():
    """The properties bin (the scroll area holding the node panels) on the screen."""
    found = [w for w in widgets("QScrollArea") if w.objectName() == "Properties"]
    return screen_rect(found[0]) if found else None


_COORD = re.compile(r"x=(-?\d+) y=(-?\d+)")


def mouse_canonical():
    """The canonical (x, y) the viewer's info bar shows for the mouse, or None."""
    for w in QtWidgets.QApplication.allWidgets():
        if isinstance(w, QtWidgets.QLabel) and w.isVisible():
            m = _COORD.search(w.text())
            if m and "<font" in w.text():
                return [int(m.group(1)), int(m.group(2))]
    return None


def _node_items():
    """(view, {label: node item}) of the visible node graph: each node's QGraphicsItem
    found through its name text item.

    The node items are kept referenced here for the whole session: a PySide2 wrapper of
    Natron's NodeGui item (QObject and QGraphicsItem) that Python drops takes the C++ item
    down with it (seen: Natron crashed on its next event), so none is ever dropped."""
    views = widgets("NodeGraph")
    if not views:
        return None, {}
    view = views[0]
    nodes = {}
    for item in view.items():
        if isinstance(item, QtWidgets.QGraphicsTextItem) and item.toPlainText():
            node = item.parentItem()
            if node is not None:
                _keep.setdefault("items", {})[id(node)] = node
                nodes[item.toPlainText().split("\n")[0]] = node
    return view, nodes


def node_point(label):
    """The screen point at the centre of the node labelled `label` in the node graph."""
    view, nodes = _node_items()
    if label not in nodes:
        return None
    p = view.viewport().mapToGlobal(view.mapFromScene(nodes[label].sceneBoundingRect().center()))
    return [p.x(), p.y()]


def node_badges():
    """The node graph's nodes showing an ERROR or WARNING badge: [{"node", "badge",
    "message"}] (the message: the node's tooltip, "<label> error: <text>")."""
    view, nodes = _node_items()
    found = []
    for label, node in nodes.items():
        for child in node.childItems():
            _keep.setdefault("items", {})[id(child)] = child
            if isinstance(child, QtWidgets.QGraphicsSimpleTextItem) and child.isVisible() and child.text() in ("ERROR", "WARNING"):
                found.append({"node": label, "badge": child.text(), "message": node.toolTip()})
    return found


def modal_dialog():
    """The text of an open modal dialog (a message box's title and text), or None."""
    w = QtWidgets.QApplication.activeModalWidget()
    if w is None:
        return None
    texts = [w.windowTitle()] + [c.text() for c in w.findChildren(QtWidgets.QLabel) if c.text()]
    return " | ".join(t for t in texts if t)


def close_modal_dialogs():
    """Closes open modal dialogs (each with its default / escape answer); their texts."""
    closed = []
    for _ in range(5):
        w = QtWidgets.QApplication.activeModalWidget()
        if w is None:
            break
        closed.append(modal_dialog())
        w.reject() if isinstance(w, QtWidgets.QDialog) else w.close()
    return closed


def _answer(control, name, reply):
    tmp = os.path.join(control, name + ".json.part")
    with open(tmp, "w") as f:
        json.dump(reply, f, default=repr)
    os.replace(tmp, os.path.join(control, name + ".json"))


def _poll(control, scope):
    try:
        requests = sorted(n for n in os.listdir(control) if n.endswith(".py"))
    except OSError:
        return
    for req in requests:
        path = os.path.join(control, req)
        with open(path) as f:
            code = f.read()
        os.remove(path)
        ns = dict(scope)
        ns["result"] = None
        try:
            exec(compile(code, req, "exec"), ns)
            reply = {"ok": True, "result": ns["result"]}
        except BaseException:  # noqa: BLE001 - answered, never raised into Natron's event loop
            reply = {"ok": False, "error": traceback.format_exc()}
        _answer(control, req[:-3], reply)


def start(app, control, nodes):
    """Starts answering requests in `control`; `nodes`: names the requests see (the graph's
    nodes). Writes CONTROL/ready when started."""
    scope = {"app": app, "QtCore": QtCore, "QtGui": QtGui, "QtWidgets": QtWidgets}
    scope.update({k: v for k, v in globals().items() if callable(v) and not k.startswith("_")})
    scope.update(nodes)
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: _poll(control, scope))
    timer.start(50)
    _keep["timer"] = timer
    with open(os.path.join(control, "ready"), "w") as f:
        f.write(str(os.getpid()))
    print("SamuraiRoto GUI check: agent answering in %s" % control, flush=True)
    sys.stdout.flush()
