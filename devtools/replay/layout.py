"""The European Youth Portal's opportunity detail page, as a template (data:
the portal's layout with ``h6``-labelled sections; the replay fills it in
:meth:`devtools.replay.pages.Renderer.esc_detail`, every value already escaped)."""

ESC_DETAIL_PAGE = """<!DOCTYPE html>
<html lang="{lang}" dir="ltr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <title>{title} | European Youth Portal (replay)</title>
  <link rel="canonical" href="{url}">
</head>
<body class="path-solidarity page-opportunity">
  <header class="ecl-site-header"><span class="ecl-link">European Youth Portal (replay)</span></header>
  <main id="main-content" class="opportunity-detail">
    <div class="row">
      <div class="col s12">
        <span class="od-type">{kind}</span>
        <h1 class="od-title">{title}</h1>
      </div>
    </div>
    <div class="row">
      <div class="col s12 m8">
        <div class="card od-card">
          <div class="card-content">
            <h6>Description</h6>
            {description}
          </div>
        </div>
        <div class="card od-card">
          <div class="card-content">
            <h6>Accommodation, food and transport arrangements</h6>
            {support}
          </div>
        </div>
      </div>
      <div class="col s12 m4">
        <div class="card od-card od-sidebar">
          <div class="card-content">
            {sidebar}
          </div>
        </div>
      </div>
    </div>
  </main>
  <footer class="ecl-footer"><p>A replay served by tilts on this machine, not the European Youth Portal.
  Data: {attribution} (opportunity {key}); the description is generated from the
  listing's own fields, and dates are moved by {days} days.</p></footer>
</body>
</html>
"""
