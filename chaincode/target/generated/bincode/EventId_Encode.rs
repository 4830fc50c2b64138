impl :: bincode :: Encode for EventId
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.log_index, encoder) ?; :: bincode
        :: Encode :: encode(&self.index, encoder) ?; core :: result :: Result
        :: Ok(())
    }
}