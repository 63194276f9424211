"""The page's templates and static files, shipped inside the package."""
