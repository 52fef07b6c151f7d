-- The store's schema as `Base.metadata.create_all` made it on PostgreSQL at commit ed0bdf3 (before migrations).
CREATE TABLE digest_runs (
	id SERIAL NOT NULL, 
	platform VARCHAR(16) NOT NULL, 
	workspace VARCHAR(64) NOT NULL, 
	channel VARCHAR(64) NOT NULL, 
	local_date VARCHAR(10) NOT NULL, 
	scheduled_for TIMESTAMP WITH TIME ZONE NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	reason VARCHAR(255) NOT NULL, 
	plan JSON, 
	posted_refs JSON NOT NULL, 
	message_ref VARCHAR(255), 
	summary_id INTEGER, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT one_digest_per_day UNIQUE (platform, channel, local_date)
);
CREATE TABLE digest_schedules (
	id SERIAL NOT NULL, 
	platform VARCHAR(16) NOT NULL, 
	workspace VARCHAR(64) NOT NULL, 
	channel VARCHAR(64) NOT NULL, 
	channel_name VARCHAR(255) NOT NULL, 
	target_channel VARCHAR(64) NOT NULL, 
	time_of_day VARCHAR(5) NOT NULL, 
	timezone VARCHAR(64) NOT NULL, 
	window_hours FLOAT NOT NULL, 
	min_messages INTEGER NOT NULL, 
	quiet_mode VARCHAR(8) NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	opted_out BOOLEAN NOT NULL, 
	created_by VARCHAR(64) NOT NULL, 
	enabled_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT one_digest_schedule UNIQUE (platform, channel)
);
CREATE TABLE summaries (
	id SERIAL NOT NULL, 
	request_id VARCHAR(255) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	platform VARCHAR(16) NOT NULL, 
	workspace VARCHAR(64) NOT NULL, 
	channel VARCHAR(64) NOT NULL, 
	thread VARCHAR(64), 
	requester VARCHAR(64) NOT NULL, 
	model VARCHAR(255) NOT NULL, 
	adapter VARCHAR(255), 
	prompt_version VARCHAR(64) NOT NULL, 
	prompt TEXT NOT NULL, 
	generation JSON NOT NULL, 
	input_tokens INTEGER NOT NULL, 
	output_tokens INTEGER NOT NULL, 
	message_count INTEGER NOT NULL, 
	latency_ms INTEGER NOT NULL, 
	text TEXT NOT NULL, 
	public BOOLEAN NOT NULL, 
	message_ref VARCHAR(255), 
	delivered_at TIMESTAMP WITH TIME ZONE, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_summaries_created_at ON summaries (created_at);
CREATE INDEX ix_summaries_message_ref ON summaries (message_ref);
CREATE INDEX ix_summaries_platform ON summaries (platform);
CREATE UNIQUE INDEX ix_summaries_request_id ON summaries (request_id);
CREATE TABLE workspace_settings (
	id SERIAL NOT NULL, 
	platform VARCHAR(16) NOT NULL, 
	workspace VARCHAR(64) NOT NULL, 
	share_dialogues BOOLEAN NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT one_setting_row UNIQUE (platform, workspace)
);
CREATE TABLE feedback (
	id SERIAL NOT NULL, 
	summary_id INTEGER NOT NULL, 
	voter_hash VARCHAR(64) NOT NULL, 
	rating INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT one_live_vote UNIQUE (summary_id, voter_hash), 
	FOREIGN KEY(summary_id) REFERENCES summaries (id) ON DELETE CASCADE
);
CREATE INDEX ix_feedback_created_at ON feedback (created_at);
CREATE INDEX ix_feedback_summary_id ON feedback (summary_id);
CREATE TABLE shared_dialogues (
	summary_id INTEGER NOT NULL, 
	dialogue TEXT NOT NULL, 
	summary TEXT, 
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (summary_id), 
	FOREIGN KEY(summary_id) REFERENCES summaries (id) ON DELETE CASCADE
);
CREATE INDEX ix_shared_dialogues_expires_at ON shared_dialogues (expires_at);
CREATE TABLE summary_messages (
	id SERIAL NOT NULL, 
	summary_id INTEGER NOT NULL, 
	platform VARCHAR(16) NOT NULL, 
	message_ref VARCHAR(255) NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT one_summary_per_message UNIQUE (platform, message_ref), 
	FOREIGN KEY(summary_id) REFERENCES summaries (id) ON DELETE CASCADE
);
CREATE INDEX ix_summary_messages_summary_id ON summary_messages (summary_id);
