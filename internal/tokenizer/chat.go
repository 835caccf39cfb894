package tokenizer

import (
	"errors"
	"fmt"

	"github.com/ardanlabs/jinja"
)

// Message is one chat turn; Role is "system", "user" or "assistant".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ApplyChatTemplate formats msgs as the model's prompt: its
// tokenizer.chat_template rendered with a Jinja engine, as Hugging Face
// transformers renders it. When the engine cannot render the template, the
// template's family is recognised (like llama.cpp's llm_chat_detect_template)
// and a built-in formatter is used; a model without a template gets ChatML.
// The result is meant to be encoded with parseSpecial so the markers become
// control tokens; BOS is included only if the template writes bos_token.
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, addGenerationPrompt bool) (string, error) {
	if t.chatTemplate == "" {
		return formatChat(chatML, msgs, addGenerationPrompt), nil
	}
	out, err := RenderChatTemplate(t.chatTemplate, msgs, addGenerationPrompt, t.specialText(t.bos), t.specialText(t.eos))
	if err == nil {
		return out, nil
	}
	if format, ok := detectChatFormat(t.chatTemplate); ok {
		return formatChat(format, msgs, addGenerationPrompt), nil
	}
	return "", fmt.Errorf("chat template: %w (and no built-in format recognises it)", err)
}

// specialText is the text of a special token, "" when the model has none.
func (t *Tokenizer) specialText(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// RenderChatTemplate renders a Hugging Face chat template (Jinja) with the
// variables transformers' apply_chat_template passes: messages,
// add_generation_prompt, bos_token, eos_token and tools (none). The engine
// applies transformers' trim_blocks/lstrip_blocks settings.
func RenderChatTemplate(tmpl string, msgs []Message, addGenerationPrompt bool, bos, eos string) (string, error) {
	if tmpl == "" {
		return "", errors.New("empty chat template")
	}
	compiled, err := jinja.Compile(tmpl)
	if err != nil {
		return "", fmt.Errorf("compile chat template: %w", err)
	}
	messages := make([]any, len(msgs))
	for i, m := range msgs {
		messages[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	out, err := compiled.Render(map[string]any{
		"messages":              messages,
		"add_generation_prompt": addGenerationPrompt,
		"bos_token":             bos,
		"eos_token":             eos,
		"tools":                 nil,
	})
	if err != nil {
		return "", fmt.Errorf("render chat template: %w", err)
	}
	return out, nil
}
