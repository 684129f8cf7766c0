"""Draws the SamuraiRoto plugin icon (128x128 PNG) from primitives: no third-party art.
Run: python3 resources/make_icon.py  (needs Pillow; writes resources/org.samuraiRoto.SamuraiRoto.png,
the name OFX hosts look up in the bundle's Contents/Resources)."""
from pathlib import Path
from PIL import Image, ImageDraw

size = 128
img = Image.new("RGBA", (size, size), (24, 26, 32, 255))
d = ImageDraw.Draw(img)
d.ellipse((30, 34, 98, 102), fill=(225, 60, 50, 255))          # the tracked object (a matte)
d.rectangle((20, 24, 108, 112), outline=(240, 240, 240, 255), width=4)  # the artist's box
for x in range(20, 109, 22):                                     # keyframe ticks
    d.rectangle((x - 3, 116, x + 3, 124), fill=(250, 200, 40, 255))
d.line((14, 12, 114, 12), fill=(200, 200, 210, 255), width=3)    # a blade
out = Path(__file__).with_name("org.samuraiRoto.SamuraiRoto.png")
img.save(out)
print(out)
