"""The App's page in Saleor's Dashboard (the manifest's appUrl): each channel's settings and the
App's refunds, for the staff user whose token the Dashboard hands over."""
