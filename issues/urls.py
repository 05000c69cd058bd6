"""URL routes of the issues app: issue pages, the navigator, saved filters, boards and workflow settings."""

from django.urls import path

from issues.views import attachments, boards, browse, export_jobs, links, navigator, workflow

app_name = "issues"
urlpatterns = [
    # Issue pages (issues/views/browse.py): view, inline edit, create/edit, comments, worklogs.
    path("issues/new", browse.create, name="create"),
    path("issues/preview", browse.markdown_preview, name="preview"),
    path("browse/<str:key>", browse.browse, name="browse"),
    path("browse/<str:key>/edit", browse.edit, name="edit"),
    path("browse/<str:key>/delete", browse.remove, name="delete"),
    path("browse/<str:key>/set/<str:field>", browse.inline_edit, name="inline"),
    path("browse/<str:key>/comments", browse.comment_create, name="comment_add"),
    path("browse/<str:key>/comments/<int:comment_id>/edit", browse.comment_edit, name="comment_edit"),
    path("browse/<str:key>/comments/<int:comment_id>/delete", browse.comment_remove, name="comment_delete"),
    path("browse/<str:key>/assign-to-me", browse.assign_to_me, name="assign_to_me"),
    path("browse/<str:key>/clone", browse.clone, name="clone"),
    path("browse/<str:key>/move", browse.move, name="move"),
    path("browse/<str:key>/worklogs", browse.worklog_create, name="worklog_add"),
    path("browse/<str:key>/worklogs/<int:worklog_id>/edit", browse.worklog_edit, name="worklog_edit"),
    path("browse/<str:key>/worklogs/<int:worklog_id>/delete", browse.worklog_remove, name="worklog_delete"),
    path("browse/<str:key>/links", links.link_add, name="link_add"),
    path("browse/<str:key>/links/<int:link_id>/delete", links.link_delete, name="link_delete"),
    path("browse/<str:key>/attachments", attachments.attachment_upload, name="attachment_add"),
    path("attachments/<int:attachment_id>/thumbnail", attachments.attachment_thumbnail, name="attachment_thumbnail"),
    path("attachments/<int:attachment_id>/delete", attachments.attachment_remove, name="attachment_delete"),
    path("attachments/<int:attachment_id>/<str:filename>", attachments.attachment_file, name="attachment"),
    # Issue navigator (issues/views/navigator.py): search, exports, saved filters.
    path("issues/", navigator.navigator, name="navigator"),
    path("issues/export", navigator.export, name="export"),
    path("issues/exports/<int:pk>", export_jobs.export_job, name="export_job"),
    path("issues/exports/<int:pk>/download", export_jobs.export_job_download, name="export_job_download"),
    path("issues/filters", navigator.saved_filter_save, name="saved_filter_create"),
    path("issues/filters/<int:pk>", navigator.saved_filter_update_view, name="saved_filter_update"),
    path("issues/filters/<int:pk>/delete", navigator.saved_filter_delete_view, name="saved_filter_delete"),
    # Boards (issues/views/boards.py): a project's, or a saved filter's; card pages on scroll; card moves.
    path("projects/<str:key>/board/", boards.board, name="board"),
    path("projects/<str:key>/board/cards", boards.board_cards, name="board_cards"),
    path("projects/<str:key>/board/move", boards.board_move, name="board_move"),
    path("filters/<int:filter_id>/board/", boards.board, name="filter_board"),
    path("filters/<int:filter_id>/board/cards", boards.board_cards, name="filter_board_cards"),
    path("filters/<int:filter_id>/board/move", boards.board_move, name="filter_board_move"),
    # A project's workflow, for its admins (issues/views/workflow.py).
    path("projects/<str:key>/settings/workflow", workflow.workflow_settings, name="workflow_settings"),
]
